"""Self-supervised embeddings (``hf:MODEL[@LAYER]``) on tiny models the tests create: no download."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytest.importorskip("transformers", reason="the optional 'ssl' extra is not installed")

from crossemo.features import FeatureError, extract_files, feature_cache_dir, get_extractor  # noqa: E402
from crossemo.features.ssl import CHUNK_S, parse_name  # noqa: E402
from tests.ssl_models import KINDS, direct_embedding, make_speech_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-models")
    return {kind: make_speech_model(kind, root / kind) for kind in KINDS}


def _speech_like(seconds: float, sample_rate: int, *, seed: int = 0) -> np.ndarray:
    """A voiced tone with a syllable-rate envelope plus a little noise."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(seconds * sample_rate)) / sample_rate
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * time_s)
    voiced = sum(np.sin(2 * np.pi * 140 * k * time_s) / k for k in range(1, 6))
    return (0.2 * envelope * voiced + 0.01 * rng.standard_normal(time_s.size)).astype(np.float32)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", ["last", 1, "mean"])
def test_embeddings_equal_a_direct_transformers_forward_pass(models, kind, layer) -> None:
    signal = _speech_like(1.5, 16_000)
    suffix = "" if layer == "last" else f"@{layer}"
    extractor = get_extractor(f"hf:{models[kind]}{suffix}")

    expected = direct_embedding(models[kind], signal, layer=layer)
    assert len(extractor.feature_names) == expected.size == 16
    np.testing.assert_allclose(extractor.compute(signal, 16_000), expected, rtol=1e-5, atol=1e-6)
    assert extractor.describe()["layer"] == layer and extractor.describe()["model"] == str(models[kind])


@pytest.mark.parametrize("rate", [8_000, 44_100, 48_000])
def test_files_at_other_rates_are_resampled_to_the_models_rate(models, tmp_path, rate) -> None:
    import audresample

    signal = _speech_like(1.0, rate, seed=rate)
    path = tmp_path / f"at-{rate}.wav"
    soundfile.write(path, signal, rate, subtype="FLOAT")
    name = f"hf:{models['wavlm']}"

    table = extract_files([path], feature_set=name, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    resampled = audresample.resample(signal, rate, 16_000)[0]
    values = table[list(get_extractor(name).feature_names)].to_numpy()[0]
    np.testing.assert_allclose(values, direct_embedding(models["wavlm"], resampled), rtol=1e-4, atol=1e-5)
    # Not the same as feeding the model the unresampled samples as if they were 16 kHz.
    assert not np.allclose(values, direct_embedding(models["wavlm"], signal), rtol=1e-3, atol=1e-4)


def test_a_long_recording_is_the_frame_weighted_mean_of_its_chunks(models) -> None:
    extractor = get_extractor(f"hf:{models['hubert']}")
    chunk = int(CHUNK_S * 16_000)
    signal = _speech_like(2 * CHUNK_S + 3, 16_000, seed=3)
    pieces = [signal[:chunk], signal[chunk:2 * chunk], signal[2 * chunk:]]
    direct = [direct_embedding(models["hubert"], piece, frames=True) for piece in pieces]
    expected = sum(mean * count for mean, count in direct) / sum(count for _, count in direct)
    np.testing.assert_allclose(extractor.compute(signal, 16_000), expected, rtol=1e-4, atol=1e-5)
    # One pass over the whole recording is a different (unbounded-memory) computation.
    assert not np.allclose(expected, direct_embedding(models["hubert"], signal), rtol=1e-4, atol=1e-5)


def test_the_cache_key_follows_the_weights_and_the_layer(tmp_path) -> None:
    folder = make_speech_model("wav2vec2", tmp_path / "model", seed=1)
    first = get_extractor(f"hf:{folder}")
    assert get_extractor(f"hf:{folder}") is first  # built once per process and folder state
    other_layer = get_extractor(f"hf:{folder}@1")
    assert feature_cache_dir(tmp_path, other_layer) != feature_cache_dir(tmp_path, first)

    weights = folder / "model.safetensors"
    before = weights.stat().st_mtime_ns
    make_speech_model("wav2vec2", folder, seed=2)  # new weights in place
    os.utime(weights, ns=(before + 10**9, before + 10**9))  # a coarse clock must not hide the change
    changed = get_extractor(f"hf:{folder}")
    assert changed is not first and changed.version != first.version
    assert feature_cache_dir(tmp_path, changed) != feature_cache_dir(tmp_path, first)
    signal = _speech_like(1.0, 16_000)
    assert not np.allclose(changed.compute(signal, 16_000), first.compute(signal, 16_000))


def test_embeddings_are_cached_and_read_back(models, tmp_path) -> None:
    path = tmp_path / "one.wav"
    soundfile.write(path, _speech_like(1.0, 16_000), 16_000)
    name = f"hf:{models['data2vec']}@mean"
    first = extract_files([path], feature_set=name, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    again = extract_files([path], feature_set=name, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    assert (first.attrs["computed"], again.attrs["computed"], again.attrs["cached"]) == (1, 0, 1)
    assert first.attrs["feature_set"] == name
    np.testing.assert_array_equal(first.drop(columns="path").to_numpy(), again.drop(columns="path").to_numpy())


def test_names_parse_and_bad_models_are_clear_errors(models, tmp_path) -> None:
    assert parse_name("hf:/some/dir@-1") == ("/some/dir", -1)
    assert parse_name("hf:/odd@name/model") == ("/odd@name/model", "last")  # an @ inside the path
    with pytest.raises(FeatureError, match="neither a folder nor a model in the local Hugging Face cache"):
        get_extractor(f"hf:{tmp_path / 'missing'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatureError, match="holds no config.json"):
        get_extractor(f"hf:{tmp_path / 'empty'}")
    with pytest.raises(FeatureError, match="layer 7 out of range; the model has hidden states 0..2"):
        get_extractor(f"hf:{models['wavlm']}@7")
    assert get_extractor(f"hf:{models['wavlm']}@-1").id == get_extractor(f"hf:{models['wavlm']}@2").id
    with pytest.raises(FeatureError, match="names no model"):
        get_extractor("hf: ")


def test_whisper_embeds_a_recording_longer_than_its_window_chunk_by_chunk(models) -> None:
    extractor = get_extractor(f"hf:{models['whisper']}")
    signal = _speech_like(30.5, 16_000, seed=4)  # a tail of half a second past the 30 s window
    pieces = [signal[:30 * 16_000], signal[30 * 16_000:]]
    direct = [direct_embedding(models["whisper"], piece, frames=True) for piece in pieces]
    expected = sum(mean * count for mean, count in direct) / sum(count for _, count in direct)
    np.testing.assert_allclose(extractor.compute(signal, 16_000), expected, rtol=1e-4, atol=1e-5)
