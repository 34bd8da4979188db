"""The batched form of the latent models' objectives: M networks' losses over stacked mini-batches.

:class:`StackedNetwork` holds M networks of one architecture as one flat [M, P] weight
tensor and applies each layer as a grouped matrix product (``torch.baddbmm``) to inputs
stacked as [M, B, F]; :func:`step_loss` computes every member's loss of one step with
the loss terms of :mod:`crossemo.models.training` rewritten over a row mask (members
have their own row counts); :class:`BatchedAdam` is ``torch.optim.Adam`` per member.
:mod:`crossemo.models.batched` runs the training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from crossemo.models.losses import UNLABELLED, cluster_loss
from crossemo.models.supervised import HeadObjective
from crossemo.models.training import DenoisingObjective, SharedTerms, VariationalObjective


@dataclass(frozen=True)
class BatchedObjective:
    """What a member's objective computes, in a form every member of a batch shares.

    ``variational`` picks the VAE family's loss (else the DAE's, with input noise
    ``noise_sigma``); ``gamma`` weighs the cluster loss, ``shared_head_weight`` the
    :class:`SharedTerms` head term, ``head_weight`` :class:`HeadObjective`'s (reading the
    embedding of x + ``head_noise_sigma`` * n when ``head_noisy``, a posterior sample for
    the VAE).  Class weights of the head are per member and live in the batch.
    """

    variational: bool
    reduction: str
    noise_sigma: float = 0.0
    gamma: float = 0.0
    shared_head_weight: float = 0.0
    head_weight: float = 0.0
    head_noisy: bool = False
    head_noise_sigma: float = 0.0


def batched_objective(objective: Any, *, with_target: bool) -> tuple[BatchedObjective, torch.Tensor | None] | None:
    """The batched form of ``objective`` and its head's class weights, ``None`` when unsupported.

    >>> batched_objective(DenoisingObjective(noise_sigma=0.5), with_target=False)[0].noise_sigma
    0.5
    >>> batched_objective(DenoisingObjective(shared=SharedTerms(alignment="mmd", alignment_weight=1.0)),
    ...                   with_target=True) is None
    True
    """
    head: dict[str, Any] = {}
    class_weights = None
    if isinstance(objective, HeadObjective):
        head = {
            "head_weight": float(objective.head_weight),
            "head_noisy": bool(objective.noisy),
            "head_noise_sigma": float(objective.noise_sigma),
        }
        class_weights = objective.class_weights
        objective = objective.base
    if isinstance(objective, DenoisingObjective):
        spec = BatchedObjective(
            variational=False, reduction=objective.reduction, noise_sigma=float(objective.noise_sigma)
        )
    elif isinstance(objective, VariationalObjective):
        spec = BatchedObjective(variational=True, reduction=objective.reduction, gamma=float(objective.gamma))
    else:
        return None
    shared: SharedTerms = objective.shared
    if with_target and shared.alignment != "none":
        return None
    if shared.head_weight > 0.0 and head.get("head_weight", 0.0) > 0.0:
        return None  # two heads writing one "classification" term: left to the solo loop
    return replace(spec, shared_head_weight=float(shared.head_weight), **head), class_weights


def parameter_layout(network: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of the network's parameters, in ``named_parameters`` order."""
    return [(name, tuple(parameter.shape)) for name, parameter in network.named_parameters()]


class StackedNetwork:
    """The members' weights as one flat [M, P] leaf, viewed per layer as [M, *shape]."""

    def __init__(self, networks: Sequence[torch.nn.Module]) -> None:
        self.layout = parameter_layout(networks[0])
        self.sizes = [math.prod(shape) for _, shape in self.layout]
        with torch.no_grad():
            flat = torch.stack([torch.cat([p.reshape(-1) for p in net.parameters()]) for net in networks])
        self.flat = flat.requires_grad_(True)
        names = {name for name, _ in self.layout}
        self.n_hidden = sum(1 for name in names if name.startswith("encoder_body.") and name.endswith(".weight"))
        self.variational = "mu_head.weight" in names
        self.has_head = "classifier_head.weight" in names
        # The head's columns of the flat weights: Adam skips them on steps where the head is unused.
        self.head_columns = torch.cat(
            [
                torch.full((size,), name.startswith("classifier_head."), dtype=torch.bool)
                for (name, _), size in zip(self.layout, self.sizes, strict=True)
            ]
        ).to(flat.device)

    def views(self) -> dict[str, torch.Tensor]:
        """Per-layer [M, *shape] views of the flat weights (in the autograd graph)."""
        members = self.flat.shape[0]
        pieces = self.flat.split(self.sizes, dim=1)
        return {name: piece.view(members, *shape) for (name, shape), piece in zip(self.layout, pieces, strict=True)}

    def write_back(self, networks: Sequence[torch.nn.Module]) -> None:
        """Copy member m's weights into ``networks[m]``."""
        with torch.no_grad():
            for member, network in enumerate(networks):
                pieces = self.flat[member].split(self.sizes)
                for (name, shape), (own_name, parameter), piece in zip(
                    self.layout, network.named_parameters(), pieces, strict=True
                ):
                    if own_name != name:
                        raise ValueError(f"member {member}: parameter {own_name!r} where {name!r} was expected")
                    parameter.copy_(piece.view(shape))


OwnRows = list[int | torch.Tensor] | None
"""Each member's own rows of a stacked input: the first n, or positions in order; ``None``: every row."""


def _rows_of(tensor: torch.Tensor, member: int, rows: int | torch.Tensor) -> torch.Tensor:
    """``tensor[member]``'s own rows (a view for the first n)."""
    return tensor[member, :rows] if isinstance(rows, int) else tensor[member, rows]


def _put_rows(tensor: torch.Tensor, member: int, rows: int | torch.Tensor, values: torch.Tensor) -> None:
    """Write ``values`` into ``tensor[member]``'s own rows."""
    if isinstance(rows, int):
        tensor[member, :rows] = values
    else:
        tensor[member, rows] = values


def _has_rows(rows: int | torch.Tensor) -> bool:
    return rows > 0 if isinstance(rows, int) else rows.numel() > 0


SMALL_PRODUCT = 400
"""Below this many multiply-adds per member (rows x in x out), ``torch.bmm`` on the CPU uses its
own loops, whose rounding differs from the BLAS product of the solo loop's ``F.linear``; such
layers are computed member by member (torch 2.x, ``aten/src/ATen/native/LinearAlgebra.cpp``)."""


class _OwnRowsLinear(torch.autograd.Function):
    """x W^T + b per member, computed as the solo loop's ``F.linear`` on each member's own rows.

    The weight and bias gradients sum over a member's own rows only (not over padding,
    which would associate the same terms in another order); with ``small`` the output
    and input gradient are computed member by member too (see :data:`SMALL_PRODUCT`).
    Padded rows get 0.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, rows, small):  # noqa: ANN001, ANN205 - autograd's signature
        ctx.save_for_backward(x, weight)
        ctx.rows, ctx.small = rows, small
        if not small:
            return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        out = x.new_zeros(x.shape[0], x.shape[1], weight.shape[1])
        for member, own in enumerate(rows):
            if _has_rows(own):
                _put_rows(out, member, own, torch.addmm(bias[member], _rows_of(x, member, own), weight[member].t()))
        return out

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        x, weight = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.zeros_like(x) if ctx.small else grad.bmm(weight)
        grad_weight = torch.zeros_like(weight)
        grad_bias = weight.new_zeros(weight.shape[:2])
        for member, own in enumerate(ctx.rows):
            if _has_rows(own):
                own_grad = _rows_of(grad, member, own)
                if ctx.small and grad_x is not None:
                    _put_rows(grad_x, member, own, own_grad.mm(weight[member]))
                # addmm's backward for a transposed (column-major) weight: grad^T @ x.
                grad_weight[member] = own_grad.t().mm(_rows_of(x, member, own))
                grad_bias[member] = own_grad.sum(0, keepdim=True).view(-1)
        return grad_x, grad_weight, grad_bias, None, None


def _linear(x: torch.Tensor, params: dict[str, torch.Tensor], prefix: str, rows: OwnRows = None) -> torch.Tensor:
    """x W^T + b per member: [M, R, in] -> [M, R, out], each member as ``F.linear`` on its own ``rows``."""
    weight, bias = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
    if rows is None:
        if x.shape[1] * weight.shape[1] * weight.shape[2] >= SMALL_PRODUCT:
            return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        rows = [x.shape[1]] * x.shape[0]
    # Member by member: BLAS picks its kernel by the row count, so only the solo loop's own
    # shapes give its rounding.
    return _OwnRowsLinear.apply(x, weight, bias, rows, True)


def _encode(
    net: StackedNetwork, params: dict[str, torch.Tensor], x: torch.Tensor, rows: OwnRows = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    hidden = x
    for position in range(net.n_hidden):
        hidden = torch.relu(_linear(hidden, params, f"encoder_body.{2 * position}", rows))
    if net.variational:
        return _linear(hidden, params, "mu_head", rows), _linear(hidden, params, "logvar_head", rows)
    return _linear(hidden, params, "latent_head", rows), None


def _decode(
    net: StackedNetwork, params: dict[str, torch.Tensor], z: torch.Tensor, rows: OwnRows = None
) -> torch.Tensor:
    hidden = z
    for position in range(net.n_hidden):
        hidden = torch.relu(_linear(hidden, params, f"decoder_body.{2 * position}", rows))
    return _linear(hidden, params, "output_layer", rows)


def _labelled_rows(labelled: torch.Tensor) -> OwnRows:
    """Each member's labelled rows, ``None`` when every row of every member is labelled."""
    if bool(labelled.all()):
        return None
    return [row.nonzero().squeeze(1) for row in labelled]


def masked_reconstruction(
    decoded: torch.Tensor, x: torch.Tensor, rows: torch.Tensor, count: torch.Tensor, *, reduction: str
) -> torch.Tensor:
    """Per-member :func:`~crossemo.models.losses.reconstruction_loss` over the rows where ``rows`` is true.

    "mean": sum (x_hat - x)^2 / (n F); "sum": sum (x_hat - x)^2 / n, with n = ``count``
    (0 for a member without rows, whose loss is then 0).
    """
    errors = ((decoded - x).pow(2).sum(dim=2) * rows).sum(dim=1)
    denominator = count * x.shape[2] if reduction == "mean" else count
    return errors / denominator.clamp_min(1.0)


def masked_kl(mu: torch.Tensor, logvar: torch.Tensor, rows: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Per-member :func:`~crossemo.models.losses.kl_divergence`, averaged over the masked rows."""
    per_row = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=2)
    return (per_row * rows).sum(dim=1) / count.clamp_min(1.0)


def _cluster_losses(z: torch.Tensor, labels: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """:func:`~crossemo.models.losses.cluster_loss` of each member's own rows, [M].

    Member by member: the loss itself (its class centroids, norms and pairwise
    distances, in its order), so a member's value and gradient are its solo ones.
    """
    counts = count.long().tolist()
    return torch.stack([cluster_loss(z[member, :rows], labels[member, :rows]) for member, rows in enumerate(counts)])


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, row_weights: torch.Tensor) -> torch.Tensor:
    """Per-member weighted cross-entropy, sum_i w_i CE_i / sum_i w_i (0 when no row weighs)."""
    log_probabilities = torch.log_softmax(logits, dim=2)
    losses = -log_probabilities.gather(2, labels.clamp_min(0).unsqueeze(2)).squeeze(2)
    return (losses * row_weights).sum(dim=1) / row_weights.sum(dim=1).clamp_min(1e-12)


@dataclass
class StepInput:
    """One step's stacked inputs ([M, B, ...]); ``None`` where the objective draws nothing."""

    x: torch.Tensor
    rows: torch.Tensor
    count: torch.Tensor  # rows per member
    labels: torch.Tensor
    target: torch.Tensor | None
    target_rows: torch.Tensor | None
    noise: torch.Tensor | None  # DAE input noise of [x; target], or VAE eps of [x; target]
    head_noise: torch.Tensor | None
    head_eps: torch.Tensor | None
    beta: torch.Tensor
    own_rows: OwnRows = None  # of [x; target], when some member's rows are not all of them


def step_loss(
    spec: BatchedObjective,
    net: StackedNetwork,
    step: StepInput,
    *,
    labelled_data: bool,
    class_weights: Sequence[torch.Tensor | None] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
    """Per-member loss [M], its named terms, and which members' head is in the graph (``None``: nobody's).

    A head enters a member's graph only on steps with labelled rows: on the others the
    solo loop leaves its gradient ``None`` and Adam skips it.
    """
    params = net.views()
    count = step.count
    n_train = step.x.shape[1]
    rows = step.x if step.target is None else torch.cat([step.x, step.target], dim=1)
    terms: dict[str, torch.Tensor] = {}
    if spec.variational:
        mu, logvar = _encode(net, params, rows, step.own_rows)
        decoded = _decode(net, params, mu + torch.exp(0.5 * logvar) * step.noise, step.own_rows)
        embedding = mu[:, :n_train]
        terms["reconstruction"] = masked_reconstruction(
            decoded[:, :n_train], step.x, step.rows, count, reduction=spec.reduction
        )
        terms["kl"] = masked_kl(embedding, logvar[:, :n_train], step.rows, count)
        loss = terms["reconstruction"] + step.beta * terms["kl"]
        if spec.gamma > 0.0:
            terms["cluster"] = _cluster_losses(embedding, step.labels, step.count)
            loss = loss + spec.gamma * terms["cluster"]
    else:
        latent, _ = _encode(net, params, rows + scaled_noise(spec.noise_sigma, step.noise), step.own_rows)
        decoded = _decode(net, params, latent, step.own_rows)
        terms["reconstruction"] = masked_reconstruction(
            decoded[:, :n_train], step.x, step.rows, count, reduction=spec.reduction
        )
        loss = terms["reconstruction"]
        embedding = None
    if step.target is not None:
        target_count = step.target_rows.sum(dim=1).to(step.x.dtype)
        terms["target_reconstruction"] = masked_reconstruction(
            decoded[:, n_train:], step.target, step.target_rows, target_count, reduction=spec.reduction
        )
        loss = loss + terms["target_reconstruction"]
        if spec.variational:
            terms["target_kl"] = masked_kl(mu[:, n_train:], logvar[:, n_train:], step.target_rows, target_count)
            loss = loss + step.beta * terms["target_kl"]
    labelled = step.labels != UNLABELLED
    head_used = None
    if spec.shared_head_weight > 0.0 and net.has_head and labelled_data:
        if embedding is None:  # the DAE's head reads the clean embedding, encoded as the solo loop does
            clean, _ = _encode(net, params, rows, step.own_rows)
            embedding = clean[:, :n_train]
        logits = _linear(embedding, params, "classifier_head", _labelled_rows(labelled))
        terms["classification"] = masked_cross_entropy(logits, step.labels, labelled.to(logits.dtype))
        loss = loss + spec.shared_head_weight * terms["classification"]
        head_used = labelled.any(dim=1)
    if spec.head_weight > 0.0 and net.has_head and labelled_data:
        head_input = (
            step.x if step.head_noise is None else step.x + scaled_noise(spec.head_noise_sigma, step.head_noise)
        )
        head_rows = _labelled_rows(labelled)
        head_embedding, head_logvar = _encode(net, params, head_input, head_rows)
        if step.head_eps is not None:
            head_embedding = head_embedding + torch.exp(0.5 * head_logvar) * step.head_eps
        logits = _linear(head_embedding, params, "classifier_head", head_rows)
        if class_weights is None:
            terms["classification"] = masked_cross_entropy(logits, step.labels, labelled.to(logits.dtype))
        else:
            terms["classification"] = _weighted_cross_entropy(logits, step.labels, labelled, class_weights)
        loss = loss + spec.head_weight * terms["classification"]
        head_used = labelled.any(dim=1)
    return loss, terms, head_used


def _weighted_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, labelled: torch.Tensor, weights: Sequence[torch.Tensor | None]
) -> torch.Tensor:
    """``F.cross_entropy`` of each member's labelled rows with its class weights, [M] (0 without such rows).

    Member by member: the weighted mean's denominator is then summed as the solo loop sums it.
    """
    losses = []
    for member, member_weights in enumerate(weights):
        rows = labelled[member]
        if bool(rows.any()):
            losses.append(F.cross_entropy(logits[member][rows], labels[member][rows], weight=member_weights))
        else:
            losses.append(logits[member].sum() * 0.0)
    return torch.stack(losses)


def scaled_noise(scale: float, noise: torch.Tensor) -> torch.Tensor:
    """``scale * noise``; ``noise`` itself for a scale of 1 (the same numbers, one operation fewer)."""
    return noise if scale == 1.0 else scale * noise


ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
"""``torch.optim.Adam``'s defaults, the ones :func:`~crossemo.models.training.train_network` uses."""


class BatchedAdam:
    """``torch.optim.Adam`` over the flat [M, P] weights, each member and layer with its own step count.

    m <- lerp(m, g, 1 - beta1); v <- beta2 v + (1 - beta2) g^2;
    p <- p - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps), elementwise in
    ``_single_tensor_adam``'s order, for the entries updated on this step only.  The body
    counts t per member; the head (``head_columns``) counts its own, as the solo loop's
    Adam skips a parameter whose gradient is ``None``.
    """

    def __init__(self, flat: torch.Tensor, head_columns: torch.Tensor, learning_rates: Sequence[float]) -> None:
        self.flat, self.learning_rates = flat, [float(rate) for rate in learning_rates]
        self.first = torch.zeros_like(flat, requires_grad=False)
        self.second = torch.zeros_like(flat, requires_grad=False)
        self.head_columns = head_columns
        self.has_head = bool(head_columns.any())
        self.column_group = head_columns.long()  # 0: body, 1: head
        self.counts = [[0, 0] for _ in range(flat.shape[0])]

    def step(self, active: list[bool], head_used: list[bool] | None) -> None:
        """Update the members that had a batch (their head only where it was used)."""
        used = [False] * len(active) if head_used is None else head_used
        for is_active, is_used, counts in zip(active, used, self.counts, strict=True):
            counts[0] += int(is_active)
            counts[1] += int(is_active and is_used)
        everything = all(active) and (not self.has_head or all(used))
        with torch.no_grad():
            if everything:
                self._update_in_place()
            else:
                self._update_where(active, used)
        self.flat.grad = None

    def _scalars(self) -> tuple[torch.Tensor, torch.Tensor]:
        """-lr / (1 - beta1^t) and sqrt(1 - beta2^t) per member ([M, 1]) or per member and column ([M, P]).

        Python floats of each count, as the solo loop computes them, then cast once.
        """
        beta1, beta2 = ADAM_BETAS
        pairs = zip(self.learning_rates, self.counts, strict=True)
        neg_step = torch.tensor([[-(rate / (1 - beta1 ** max(t, 1))) for t in counts] for rate, counts in pairs])
        correction = torch.tensor([[(1 - beta2 ** max(t, 1)) ** 0.5 for t in counts] for counts in self.counts])
        neg_step, correction = neg_step.to(self.flat.device), correction.to(self.flat.device)
        if not self.has_head or all(body == head for body, head in self.counts):
            return neg_step[:, :1], correction[:, :1]
        return neg_step[:, self.column_group], correction[:, self.column_group]

    def _update_in_place(self) -> None:
        beta1, beta2 = ADAM_BETAS
        grad, flat = self.flat.grad, self.flat
        self.first.lerp_(grad, 1 - beta1)
        self.second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        neg_step, correction = self._scalars()
        denominator = self.second.sqrt().div_(correction).add_(ADAM_EPS)
        # p + (value * m) / denom: addcdiv's order, with a value per member.
        flat.add_(torch.mul(neg_step, self.first).div_(denominator))

    def _update_where(self, active: list[bool], used: list[bool]) -> None:
        beta1, beta2 = ADAM_BETAS
        grad, flat, device = self.flat.grad, self.flat, self.flat.device
        new_first = torch.lerp(self.first, grad, 1 - beta1)
        new_second = (self.second * beta2).addcmul_(grad, grad, value=1 - beta2)
        neg_step, correction = self._scalars()
        denominator = (new_second.sqrt() / correction).add_(ADAM_EPS)
        new_flat = flat + neg_step * new_first / denominator
        update = torch.tensor(active, device=device).unsqueeze(1)
        if self.has_head:
            update = update & (torch.tensor(used, device=device).unsqueeze(1) | ~self.head_columns)
        flat.copy_(torch.where(update, new_flat, flat))
        self.first.copy_(torch.where(update, new_first, self.first))
        self.second.copy_(torch.where(update, new_second, self.second))
