"""A bundle as an ONNX graph: raw features in, calibrated class probabilities out.

:func:`export_onnx` builds the graph from the bundle's numbers with ``onnx.helper``
(no ``torch.onnx``, no converter package), one operator per step of
:meth:`TrainedModel.predict`:

1. standardization ``(x - mean) / scale`` with the bundle's *pooled training scaler*
   (what ``predict`` uses without ``adapt``; a bundle trained on several corpora with
   ``normalize = "corpus"`` keeps its per-corpus scalers in ``preprocessing.json``, but
   new recordings belong to none of them, so they are not part of the graph);
2. the method's encoder: the autoencoders' encoder exactly as
   :class:`crossemo.models.network.LatentAutoencoder` defines it (``Gemm`` + ``Relu``
   per hidden layer, then the latent head, or ``mu`` for the variational ones), in
   float32 as torch runs it; PCA as ``(x - mean) @ components.T``; nothing for the
   features baseline;
3. the linear SVC's one-vs-one decisions ``latent @ coef.T + intercept`` (the latent
   scaler is folded into the coefficients, as the bundle stores them);
4. the per-class scores of :meth:`LinearOvoClassifier.class_scores` (votes plus the
   squashed confidence sum, or ``(-d, d)`` for two classes);
5. the calibration ``softmax(slope * scores + intercept)``
   (:class:`~crossemo.bundle.calibration.ScoreCalibration`).

Inputs: ``features``, float64 ``(n, n_features)`` in the order of the metadata's
``feature_names`` (extract them with the bundle's feature set: openSMILE stays in
Python).  Outputs: ``probabilities`` and ``scores`` (float64 ``(n, n_classes)``, in the
order of ``classes``), ``latent`` (float64 ``(n, latent_dim)``) and ``predicted``
(the label, by the SVC's one-vs-one vote).  Metadata (``metadata_props``, JSON where
a value is a list): ``feature_names``, ``classes``, ``feature_set``, ``method``,
``bundle_content_sha256``, ``normalization``, ``crossemo_version``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crossemo.bundle.format import class_pairs
from crossemo.errors import BundleError

if TYPE_CHECKING:
    from crossemo.bundle.predict import TrainedModel

OPSET = 17
INPUT = "features"
OUTPUTS: tuple[str, ...] = ("probabilities", "scores", "latent", "predicted")
NORMALIZATION_NOTE = (
    "features are standardized with the bundle's pooled training scaler, as `crossemo predict` "
    "does without --adapt; per-corpus scalers and adapting to a new domain are not part of the graph"
)


class OnnxExportError(BundleError):
    """The bundle cannot be exported (no calibration, an encoder the exporter does not know) or written."""


def export_onnx(model_dir: str | os.PathLike[str], out: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Write the bundle ``model_dir`` as the ONNX graph ``out`` (atomically); returns ``out``.

    An existing ``out`` is replaced only with ``force`` (checked before any work).
    Refused with :class:`OnnxExportError` for a bundle without calibration (it has no
    probabilities: retrain it) and for encoders the graph cannot reproduce.
    """
    from crossemo.bundle.load import load_model
    from crossemo.fileio import check_new_file, path_to_text, write_atomic_bytes

    target = check_new_file(out, force=force, option="--onnx", kind=".onnx file", error=OnnxExportError,
                            another="file")
    graph = onnx_model(load_model(model_dir))
    try:
        write_atomic_bytes(target, graph.SerializeToString())
    except OSError as error:
        raise OnnxExportError(f"cannot write {path_to_text(target)}: {error.strerror or error}") from None
    return target


def onnx_model(model: TrainedModel) -> Any:
    """The :class:`onnx.ModelProto` of a loaded bundle (see the module docstring), checked by ``onnx.checker``."""
    import onnx
    from onnx import TensorProto, helper

    from crossemo import __version__

    if model.calibration is None:
        raise OnnxExportError(
            f"bundle {model.info.get('path', '')} has no probability calibration, so there are no probabilities to "
            "export; retrain it with this crossemo (`crossemo train`)"
        )
    builder = _GraphBuilder()
    centred = builder.node("Sub", [INPUT, builder.constant("scaler_mean", model.normalization.mean)])
    standardized = builder.node("Div", [centred, builder.constant("scaler_scale", model.normalization.scale)])
    latent = _encoder(builder, model.encoder, standardized)
    builder.alias(latent, "latent")
    classifier = model.classifier
    n_classes = len(classifier.classes)
    if n_classes == 2:
        # scores = (-d, d) with d = latent @ w + b: one Gemm with the weight rows (-w, w).
        weights = np.vstack([-classifier.coef, classifier.coef])
        bias = np.concatenate([-classifier.intercept, classifier.intercept])
        scores = builder.gemm(latent, weights, bias, "svc")
        decision = builder.node("Slice", [scores, builder.constant("d_start", np.array([1])),
                                          builder.constant("d_end", np.array([2])),
                                          builder.constant("d_axis", np.array([1]))])
        pair_decision = builder.node("Neg", [decision])  # libsvm's orientation: positive for the first class
    else:
        pair_decision = builder.gemm(latent, classifier.coef, classifier.intercept, "svc")
        scores = _ovr_scores(builder, pair_decision, n_classes)
    builder.alias(scores, "scores")
    scaled = builder.node("Mul", [scores, builder.constant("calibration_slope", model.calibration.slope)])
    logits = builder.node("Add", [scaled, builder.constant("calibration_intercept", model.calibration.intercept)])
    builder.alias(builder.node("Softmax", [logits], axis=1), "probabilities")
    builder.alias(_vote(builder, pair_decision, classifier.classes), "predicted")

    width = len(model.feature_names)
    graph = helper.make_graph(
        builder.nodes,
        f"crossemo_{model.method}",
        [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, ["n", width])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, ["n", n_classes]),
            helper.make_tensor_value_info("scores", TensorProto.DOUBLE, ["n", n_classes]),
            helper.make_tensor_value_info("latent", TensorProto.DOUBLE, ["n", model.latent_dim]),
            helper.make_tensor_value_info("predicted", TensorProto.STRING, ["n"]),
        ],
        initializer=builder.initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="crossemo", producer_version=__version__,
                              doc_string=f"crossemo {model.method} bundle: features -> calibrated class probabilities")
    metadata = {
        "feature_names": json.dumps(list(model.feature_names)),
        "classes": json.dumps(list(model.classes)),
        "feature_set": model.feature_set,
        "method": model.method,
        "bundle_content_sha256": str(model.info.get("content_sha256", "")),
        "normalization": NORMALIZATION_NOTE,
        "crossemo_version": __version__,
    }
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def read_metadata(proto: Any) -> dict[str, Any]:
    """The metadata of an exported graph, lists decoded from JSON (``feature_names``, ``classes``)."""
    props = {entry.key: entry.value for entry in proto.metadata_props}
    for key in ("feature_names", "classes"):
        if key in props:
            props[key] = json.loads(props[key])
    return props


# --------------------------------------------------------------------------- the pieces


class _GraphBuilder:
    """Collects nodes and initializers, naming every intermediate value uniquely."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, values: Any) -> str:
        from onnx import numpy_helper

        name = self._name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    def node(self, op: str, inputs: Sequence[str], **attributes: Any) -> str:
        from onnx import helper

        output = self._name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [output], **attributes))
        return output

    def alias(self, value: str, name: str) -> None:
        """Expose ``value`` as the graph output ``name``."""
        from onnx import helper

        self.nodes.append(helper.make_node("Identity", [value], [name]))

    def gemm(self, rows: str, weight: np.ndarray, bias: np.ndarray, stem: str) -> str:
        """``rows @ weight.T + bias`` (``Gemm`` with ``transB``), in the dtype of ``weight``."""
        return self.node("Gemm", [rows, self.constant(f"{stem}_weight", weight), self.constant(f"{stem}_bias", bias)],
                         transB=1)


def _encoder(builder: _GraphBuilder, encoder: Any, standardized: str) -> str:
    """The encoder's output (float64) for the standardized rows; refuses what it cannot reproduce."""
    from onnx import TensorProto

    from crossemo.models.baselines import FeatureIdentity, PCAEncoder

    if isinstance(encoder, FeatureIdentity):
        return standardized
    if isinstance(encoder, PCAEncoder):
        components = np.asarray(encoder.components_, dtype=np.float64)
        centred = builder.node("Sub", [standardized, builder.constant("pca_mean", encoder.mean_)])
        return builder.node("MatMul", [centred, builder.constant("pca_components", components.T.copy())])
    network = getattr(encoder, "network_", None)
    if network is None:
        raise OnnxExportError(f"cannot export the encoder of {type(encoder).__name__}: the graph knows the "
                              "autoencoders, PCA and the features baseline")
    if getattr(encoder, "eval_noise", False):
        raise OnnxExportError("cannot export a DAE that embeds noisy input (eval_noise=True): its latent is random")
    rows = builder.node("Cast", [standardized], to=TensorProto.FLOAT)  # torch runs the network in float32
    projection = getattr(encoder, "input_projection_", None)
    if projection is not None:  # input_lda: the network reads the rows' linear discriminants
        rows = builder.node("MatMul", [rows, builder.constant("input_projection", projection.astype(np.float32))])
    for layer in [*network.encoder_body, network.mu_head if network.variational else network.latent_head]:
        rows = _layer(builder, layer, rows)
    return builder.node("Cast", [rows], to=TensorProto.DOUBLE)


def _layer(builder: _GraphBuilder, layer: Any, rows: str) -> str:
    from torch import nn

    if isinstance(layer, nn.Linear):
        weight = layer.weight.detach().cpu().numpy().astype(np.float32)
        bias = layer.bias.detach().cpu().numpy().astype(np.float32)
        return builder.gemm(rows, weight, bias, "encoder")
    if isinstance(layer, nn.ReLU):
        return builder.node("Relu", [rows])
    raise OnnxExportError(f"cannot export an encoder layer {type(layer).__name__}: only Linear and ReLU are known")


def _ovr_scores(builder: _GraphBuilder, pair_decision: str, n_classes: int) -> str:
    """:func:`crossemo.bundle.format.ovr_scores` as matrix products.

    With ``first[p, i] = 1`` when ``i`` is pair ``p``'s first class, ``second[p, j] = 1``
    when ``j`` is its second: votes ``= [D >= 0] @ first + [D < 0] @ second``,
    confidence ``s = D @ (first - second)``, score ``= votes + s / (3 (|s| + 1))``.
    """
    from onnx import TensorProto

    pairs = class_pairs(n_classes)
    first, second = np.zeros((len(pairs), n_classes)), np.zeros((len(pairs), n_classes))
    for column, (i, j) in enumerate(pairs):
        first[column, i] = second[column, j] = 1.0
    zero = builder.constant("zero", np.array(0.0))
    toward_first = builder.node("Cast", [builder.node("GreaterOrEqual", [pair_decision, zero])], to=TensorProto.DOUBLE)
    toward_second = builder.node("Cast", [builder.node("Less", [pair_decision, zero])], to=TensorProto.DOUBLE)
    votes = builder.node("Add", [builder.node("MatMul", [toward_first, builder.constant("first", first)]),
                                 builder.node("MatMul", [toward_second, builder.constant("second", second)])])
    confidence = builder.node("MatMul", [pair_decision, builder.constant("signs", first - second)])
    one, three = builder.constant("one", np.array(1.0)), builder.constant("three", np.array(3.0))
    squashed = builder.node("Div", [confidence, builder.node("Mul", [three, builder.node("Add", [
        builder.node("Abs", [confidence]), one])])])
    return builder.node("Add", [votes, squashed])


def _vote(builder: _GraphBuilder, pair_decision: str, classes: Sequence[str]) -> str:
    """:func:`crossemo.bundle.format.ovo_vote` (``> 0`` votes for the first class; ties to the lowest index), as labels."""
    from onnx import TensorProto

    n_classes = len(classes)
    pairs = class_pairs(n_classes)
    first, second = np.zeros((len(pairs), n_classes)), np.zeros((len(pairs), n_classes))
    for column, (i, j) in enumerate(pairs):
        first[column, i] = second[column, j] = 1.0
    wins = builder.node("Cast", [builder.node("Greater", [pair_decision, builder.constant("zero", np.array(0.0))])],
                        to=TensorProto.DOUBLE)
    # Each pair's vote goes to its first class when it wins, else to the second: wins @ first + (1 - wins) @ second.
    votes = builder.node("Add", [builder.node("MatMul", [wins, builder.constant("vote_first", first - second)]),
                                 builder.constant("vote_second", second.sum(axis=0))])
    winner = builder.node("ArgMax", [votes], axis=1, keepdims=0, select_last_index=0)
    labels = builder.constant("classes", np.array(list(classes), dtype=object))
    return builder.node("Gather", [labels, winner], axis=0)
