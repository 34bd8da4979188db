"""The batched form of the latent models' objectives: M networks' losses over stacked mini-batches.

:class:`StackedNetwork` holds M networks of one architecture as one flat [M, P] weight
tensor; each layer is a grouped matrix product (``torch.baddbmm``) on inputs stacked as
[M, B, F], or runs on each member's own rows (:mod:`crossemo.models.batched_ops`);
:func:`step_loss` computes every member's loss of one step with the loss terms of
:mod:`crossemo.models.training` rewritten over a row mask (members have their own row
counts); :class:`BatchedAdam` is ``torch.optim.Adam`` per member.
:mod:`crossemo.models.batched` runs the training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from crossemo.models.batched_ops import SMALL_PRODUCT, OwnRows, OwnRowsChain, SquaredErrors
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
    """The members' weights as one flat [M, P] tensor, and per layer a [M, *shape] leaf viewing it.

    The leaves' gradients are views of one flat [M, P] buffer too (``grad``): autograd
    accumulates into them in place (0 + g, exact), so neither the layers' gradients
    nor the weights are copied between the flat layout Adam updates and the layers.
    """

    def __init__(self, networks: Sequence[torch.nn.Module]) -> None:
        self.layout = parameter_layout(networks[0])
        self.sizes = [math.prod(shape) for _, shape in self.layout]
        with torch.no_grad():
            self.flat = torch.stack([torch.cat([p.reshape(-1) for p in net.parameters()]) for net in networks])
        self.grad = torch.zeros_like(self.flat)
        members = self.flat.shape[0]
        self.params: dict[str, torch.Tensor] = {}
        for (name, shape), piece, grad in zip(
            self.layout, self.flat.split(self.sizes, dim=1), self.grad.split(self.sizes, dim=1), strict=True
        ):
            leaf = piece.view(members, *shape).requires_grad_(True)
            leaf.grad = grad.view(members, *shape)
            self.params[name] = leaf
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
        ).to(self.flat.device)

    def views(self) -> dict[str, torch.Tensor]:
        """Per-layer [M, *shape] leaves over the flat weights, their gradients in ``grad``."""
        return self.params

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


def _layers(
    x: torch.Tensor, params: dict[str, torch.Tensor], body: list[str], heads: list[str], rows: OwnRows | None
) -> list[torch.Tensor]:
    """``body`` layers (each followed by a ReLU) then each of ``heads`` on the last hidden layer, per member.

    Grouped products (``torch.baddbmm``) when every member's rows are all there and every
    product is large enough for BLAS; else :class:`~crossemo.models.batched_ops.OwnRowsChain`
    on each member's own ``rows`` (all of them for ``None``).
    """
    weights = [params[f"{prefix}.weight"] for prefix in [*body, *heads]]
    if rows is None and all(x.shape[1] * weight.shape[1] * weight.shape[2] >= SMALL_PRODUCT for weight in weights):
        hidden = x
        for prefix in body:
            hidden = torch.relu(_grouped_linear(hidden, params, prefix))
        return [_grouped_linear(hidden, params, prefix) for prefix in heads]
    if rows is None:
        rows = OwnRows.from_counts([x.shape[1]] * x.shape[0], x.shape[1], x.device)
    flat = [tensor for prefix in [*body, *heads] for tensor in (params[f"{prefix}.weight"], params[f"{prefix}.bias"])]
    return list(OwnRowsChain.apply(x, rows, len(body), *flat))


def _grouped_linear(x: torch.Tensor, params: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    weight, bias = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _linear(x: torch.Tensor, params: dict[str, torch.Tensor], prefix: str, rows: OwnRows | None = None) -> torch.Tensor:
    """x W^T + b per member: [M, R, in] -> [M, R, out], each member as ``F.linear`` on its own ``rows``."""
    return _layers(x, params, [], [prefix], rows)[0]


def _encode(
    net: StackedNetwork, params: dict[str, torch.Tensor], x: torch.Tensor, rows: OwnRows | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    body = [f"encoder_body.{2 * position}" for position in range(net.n_hidden)]
    if net.variational:
        mu, logvar = _layers(x, params, body, ["mu_head", "logvar_head"], rows)
        return mu, logvar
    return _layers(x, params, body, ["latent_head"], rows)[0], None


def _decode(
    net: StackedNetwork, params: dict[str, torch.Tensor], z: torch.Tensor, rows: OwnRows | None = None
) -> torch.Tensor:
    body = [f"decoder_body.{2 * position}" for position in range(net.n_hidden)]
    return _layers(z, params, body, ["output_layer"], rows)[0]


def _labelled_rows(labelled: torch.Tensor) -> OwnRows | None:
    """Each member's labelled rows, ``None`` when every row of every member is labelled."""
    if bool(labelled.all()):
        return None
    return OwnRows.from_mask(labelled)


def masked_reconstruction(
    decoded: torch.Tensor, x: torch.Tensor, rows: torch.Tensor | None, count: torch.Tensor, *, reduction: str
) -> torch.Tensor:
    """Per-member :func:`~crossemo.models.losses.reconstruction_loss` over the rows where ``rows`` is true.

    "mean": sum (x_hat - x)^2 / (n F); "sum": sum (x_hat - x)^2 / n, with n = ``count``
    (0 for a member without rows, whose loss is then 0).  ``rows`` ``None``: every row
    (a mask of ones would change no value nor gradient, only cost two products).
    """
    errors = SquaredErrors.apply(decoded, x)
    errors = (errors if rows is None else errors * rows).sum(dim=1)
    denominator = count * x.shape[2] if reduction == "mean" else count
    return errors / denominator.clamp_min(1.0)


def masked_kl(mu: torch.Tensor, logvar: torch.Tensor, rows: torch.Tensor | None, count: torch.Tensor) -> torch.Tensor:
    """Per-member :func:`~crossemo.models.losses.kl_divergence`, averaged over the masked rows (``None``: all)."""
    per_row = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=2)
    return (per_row if rows is None else per_row * rows).sum(dim=1) / count.clamp_min(1.0)


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
    own_rows: OwnRows | None = None  # of [x; target], when some member's rows are not all of them


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
    # On a step where every member has a full batch (and target batch), the masks are all ones.
    real, target_real = (None, None) if step.own_rows is None else (step.rows, step.target_rows)
    terms: dict[str, torch.Tensor] = {}
    if spec.variational:
        mu, logvar = _encode(net, params, rows, step.own_rows)
        decoded = _decode(net, params, mu + torch.exp(0.5 * logvar) * step.noise, step.own_rows)
        embedding = mu[:, :n_train]
        terms["reconstruction"] = masked_reconstruction(
            decoded[:, :n_train], step.x, real, count, reduction=spec.reduction
        )
        terms["kl"] = masked_kl(embedding, logvar[:, :n_train], real, count)
        loss = terms["reconstruction"] + step.beta * terms["kl"]
        if spec.gamma > 0.0:
            terms["cluster"] = _cluster_losses(embedding, step.labels, step.count)
            loss = loss + spec.gamma * terms["cluster"]
    else:
        latent, _ = _encode(net, params, rows + scaled_noise(spec.noise_sigma, step.noise), step.own_rows)
        decoded = _decode(net, params, latent, step.own_rows)
        terms["reconstruction"] = masked_reconstruction(
            decoded[:, :n_train], step.x, real, count, reduction=spec.reduction
        )
        loss = terms["reconstruction"]
        embedding = None
    if step.target is not None:
        target_count = step.target_rows.sum(dim=1).to(step.x.dtype)
        terms["target_reconstruction"] = masked_reconstruction(
            decoded[:, n_train:], step.target, target_real, target_count, reduction=spec.reduction
        )
        loss = loss + terms["target_reconstruction"]
        if spec.variational:
            terms["target_kl"] = masked_kl(mu[:, n_train:], logvar[:, n_train:], target_real, target_count)
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


def _root(second: torch.Tensor) -> torch.Tensor:
    """sqrt(v), except that v below a floor gives sqrt(floor): the same Adam denominator, faster.

    The CPU's vectorized sqrt is several times slower on exact zeros (a fifth of the
    entries, the weights of dead units).  Below the floor, sqrt(v) / sqrt(1 - beta2^t)
    (t >= 1) is under an eighth of an ulp of eps, so sqrt(v) / sqrt(1 - beta2^t) + eps
    rounds to eps either way.
    """
    floor = (ADAM_EPS * torch.finfo(second.dtype).eps * (1 - ADAM_BETAS[1]) ** 0.5 / 8) ** 2
    return second.clamp_min(floor).sqrt_()


class BatchedAdam:
    """``torch.optim.Adam`` over the flat [M, P] weights, each member and layer with its own step count.

    m <- lerp(m, g, 1 - beta1); v <- beta2 v + (1 - beta2) g^2;
    p <- p - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps), elementwise in
    ``_single_tensor_adam``'s order, for the entries updated on this step only.  The body
    counts t per member; the head (``head_columns``) counts its own, as the solo loop's
    Adam skips a parameter whose gradient is ``None``.
    """

    def __init__(
        self, flat: torch.Tensor, grad: torch.Tensor, head_columns: torch.Tensor, learning_rates: Sequence[float]
    ) -> None:
        self.flat, self.grad, self.learning_rates = flat, grad, [float(rate) for rate in learning_rates]
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
        self.grad.zero_()

    def _scalars(self) -> tuple[float | torch.Tensor, float | torch.Tensor]:
        """-lr / (1 - beta1^t) and sqrt(1 - beta2^t): Python floats when every member and column shares them.

        Else per member ([M, 1]) or per member and column ([M, P]): the same Python floats,
        as the solo loop computes them, cast once.
        """
        beta1, beta2 = ADAM_BETAS
        first_rate, first_counts = self.learning_rates[0], self.counts[0]
        if all(rate == first_rate for rate in self.learning_rates) and all(
            counts[0] == first_counts[0] and (not self.has_head or counts[1] == first_counts[0])
            for counts in self.counts
        ):
            t = max(first_counts[0], 1)
            return -(first_rate / (1 - beta1**t)), (1 - beta2**t) ** 0.5
        pairs = zip(self.learning_rates, self.counts, strict=True)
        neg_step = torch.tensor([[-(rate / (1 - beta1 ** max(t, 1))) for t in counts] for rate, counts in pairs])
        correction = torch.tensor([[(1 - beta2 ** max(t, 1)) ** 0.5 for t in counts] for counts in self.counts])
        neg_step, correction = neg_step.to(self.flat.device), correction.to(self.flat.device)
        if not self.has_head or all(body == head for body, head in self.counts):
            return neg_step[:, :1], correction[:, :1]
        return neg_step[:, self.column_group], correction[:, self.column_group]

    def _update_in_place(self) -> None:
        beta1, beta2 = ADAM_BETAS
        grad, flat = self.grad, self.flat
        self.first.lerp_(grad, 1 - beta1)
        self.second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        neg_step, correction = self._scalars()
        denominator = _root(self.second).div_(correction).add_(ADAM_EPS)
        if isinstance(neg_step, float):
            flat.addcdiv_(self.first, denominator, value=neg_step)  # the solo loop's own update
        else:
            # p + (value * m) / denom: addcdiv's order, with a value per member.
            flat.add_(torch.mul(self.first, neg_step).div_(denominator))

    def _update_where(self, active: list[bool], used: list[bool]) -> None:
        beta1, beta2 = ADAM_BETAS
        grad, flat, device = self.grad, self.flat, self.flat.device
        new_first = torch.lerp(self.first, grad, 1 - beta1)
        new_second = (self.second * beta2).addcmul_(grad, grad, value=1 - beta2)
        neg_step, correction = self._scalars()
        denominator = _root(new_second).div_(correction).add_(ADAM_EPS)
        new_flat = flat + new_first * neg_step / denominator
        update = torch.tensor(active, device=device).unsqueeze(1)
        if self.has_head:
            update = update & (torch.tensor(used, device=device).unsqueeze(1) | ~self.head_columns)
        flat.copy_(torch.where(update, new_flat, flat))
        self.first.copy_(torch.where(update, new_first, self.first))
        self.second.copy_(torch.where(update, new_second, self.second))
