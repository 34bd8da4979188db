"""The one pipeline: options that change what the classifier learns."""

from __future__ import annotations

import numpy as np
import pytest

from crossemo.config import parse_config
from crossemo.pipeline import EmotionPipeline


def test_balanced_class_weight_recovers_a_rare_class():
    rng = np.random.default_rng(0)
    # 190 "sad" against 10 overlapping "angry": unweighted, the SVC all but ignores "angry".
    features = np.vstack([rng.normal(0.0, 1.0, size=(190, 3)), rng.normal(1.0, 1.0, size=(10, 3))])
    labels = np.array(["sad"] * 190 + ["angry"] * 10, dtype=object)
    plain = EmotionPipeline("svc_features", {}).fit(features, labels)
    balanced = EmotionPipeline("svc_features", {}, class_weight="balanced").fit(features, labels)
    rare = labels == "angry"
    recall_plain = (plain.predict(features[rare]) == "angry").mean()
    recall_balanced = (balanced.predict(features[rare]) == "angry").mean()
    assert recall_balanced > recall_plain + 0.3


def test_class_weight_is_read_from_the_config(tmp_path):
    from crossemo.errors import ConfigError
    from crossemo.study.tasks import classifier_class_weight

    base = {"train": {"corpus": "emodb", "path": str(tmp_path)}}
    assert classifier_class_weight(parse_config(base)) is None
    assert classifier_class_weight(parse_config({**base, "classifier": {"class_weight": "balanced"}})) == "balanced"
    with pytest.raises(ConfigError, match="classifier.class_weight"):
        parse_config({**base, "classifier": {"class_weight": "heavy"}})


def test_unknown_normalization_is_refused():
    with pytest.raises(ValueError, match="normalize must be"):
        EmotionPipeline("svc_features", {}, normalize="speaker").fit(np.eye(4), ["a", "b", "a", "b"])
