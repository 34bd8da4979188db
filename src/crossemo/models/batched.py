"""Batched training: the fits of one architecture trained together as one vectorized network.

A latent network has under 10,000 weights, so training one is nearly all per-step
Python and dispatch overhead.  :func:`train_batched` trains M networks at once: each
layer's weights are stacked along a member axis ([M, out, in]) and applied with grouped
matrix products (``torch.baddbmm``) to the members' mini-batches stacked as [M, B, F],
with a row mask for members whose batch is shorter (members have their own row counts)
or who have no batch left in this epoch.

Each member keeps what makes its solo training (:func:`~crossemo.models.training.train_network`)
what it is: its own generator, from which it draws its permutations, target rows, input
noise and reparameterization noise in the same order and shapes as the solo loop and
objective do; its own Adam state and step count (the count advances only on steps
where the member has a batch; the update is ``torch.optim.Adam``'s, elementwise); its
own beta schedule and learning rate.  Members never mix: the loss is a sum over
members, so a member's gradient is that of its own loss.

Every operation a gradient goes through is, per member, the solo loop's on the same
shapes: grouped products over members with as many rows, each member's product the
one ``F.linear`` computes on its own rows (on a step where some members' batches are
shorter, their rows are laid end to end: see :mod:`crossemo.models.batched_ops`), the
losses' gradients scaled as theirs, the cluster loss and weighted cross-entropies per
member.  So on the CPU with the same
torch thread count a member ends with bitwise the weights its solo training gives,
whatever the other members are (the tests check it per objective); only the reported
per-epoch losses, sums over masked rows, may differ in the last bits.  Stacked batches
are always ``batch_size`` rows, so nothing a member computes depends on the others.

Supported objectives: :class:`~crossemo.models.training.DenoisingObjective` and
:class:`~crossemo.models.training.VariationalObjective` (beta schedules, cluster loss,
target rows, the shared classifier-head term), optionally wrapped in
:class:`~crossemo.models.supervised.HeadObjective` (clean or noisy head input, class
weights).  Not supported, trained per fit instead by :func:`fit_batched`: an alignment
distance (``"mmd"``, ``"coral"``) together with target rows, and any other objective.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from crossemo.models.base import FitPlan, LatentModel, ModelInputError, handling_fits
from crossemo.models.batched_objectives import (
    BatchedAdam,
    BatchedObjective,
    StackedNetwork,
    StepInput,
    batched_objective,
    parameter_layout,
    step_loss,
)
from crossemo.models.batched_ops import OwnRows
from crossemo.models.losses import UNLABELLED


def _padded(tensors: Sequence[torch.Tensor], length: int, fill: float) -> torch.Tensor:
    """Stack [n_m, ...] tensors as [M, length, ...], filling the missing rows with ``fill``."""
    out = torch.full((len(tensors), length, *tensors[0].shape[1:]), fill, dtype=tensors[0].dtype)
    for member, tensor in enumerate(tensors):
        out[member, : tensor.shape[0]] = tensor.cpu()
    return out


class _EpochDraws:
    """Every random draw of one epoch, member by member in its solo order, stacked per step.

    The buffers are kept from epoch to epoch (:meth:`redraw`): a member's rows per step
    are the same every epoch, so the padding stays in place.
    """

    def __init__(self, batch: _Batch) -> None:
        members, size, steps = len(batch.plans), batch.batch_size, batch.steps
        # Member-major, so one member's permutation is written at once; sliced per step.
        self.index = torch.full((members, steps * size), batch.x_pad, dtype=torch.long)
        self.target_index = (
            torch.full((steps, members, size), batch.target_pad, dtype=torch.long) if batch.with_target else None
        )
        width = batch.latent_dim if batch.spec.variational else batch.n_features
        rows = 2 * size if batch.with_target else size
        self.noise = torch.zeros(steps, members, rows, width)
        head_noisy = batch.head_active and batch.spec.head_noisy
        self.head_noise = (
            torch.zeros(steps, members, size, batch.n_features)
            if head_noisy and batch.spec.head_noise_sigma > 0.0
            else None
        )
        self.head_eps = (
            torch.zeros(steps, members, size, batch.latent_dim) if head_noisy and batch.spec.variational else None
        )
        self.redraw(batch)

    def redraw(self, batch: _Batch) -> None:
        """Draw the next epoch's permutations and noise from every member's generator."""
        for member, plan in enumerate(batch.plans):
            self._draw_member(batch, member, plan)

    def _draw_member(self, batch: _Batch, member: int, plan: FitPlan) -> None:
        generator, size = plan.generator, batch.batch_size
        n_rows = plan.x.shape[0]
        order = torch.randperm(n_rows, generator=generator)
        labelled_rows = batch.labelled_rows[member]
        every_row_labelled = bool(labelled_rows.all())
        self.index[member, :n_rows] = order
        for step, start in enumerate(range(0, n_rows, batch.batch_size)):
            index = order[start : start + batch.batch_size]
            n_batch = index.shape[0]
            n_noise = n_batch
            if self.target_index is not None:
                picked = torch.randperm(plan.target.shape[0], generator=generator)[:n_batch]
                self.target_index[step, member, : picked.shape[0]] = picked
                n_noise += picked.shape[0]
                noise = torch.randn((n_noise, self.noise.shape[3]), generator=generator)
                self.noise[step, member, :n_batch] = noise[:n_batch]
                self.noise[step, member, size : size + picked.shape[0]] = noise[n_batch:]
            else:
                torch.randn((n_noise, self.noise.shape[3]), generator=generator, out=self.noise[step, member, :n_batch])
            if batch.head_active:
                self._draw_head(member, step, generator, n_batch, None if every_row_labelled else labelled_rows[index])

    def _draw_head(
        self, member: int, step: int, generator: torch.Generator, n_batch: int, labelled: torch.Tensor | None
    ) -> None:
        """The head objective's draws of one step: one row per labelled row (``None``: all of them)."""
        for buffer in (self.head_noise, self.head_eps):
            if buffer is None:
                continue
            if labelled is None:
                torch.randn((n_batch, buffer.shape[3]), generator=generator, out=buffer[step, member, :n_batch])
            elif bool(labelled.any()):
                rows = buffer[step, member, : labelled.shape[0]]
                rows.zero_()  # which rows are labelled changes from epoch to epoch
                rows[labelled] = torch.randn((int(labelled.sum()), buffer.shape[3]), generator=generator)


class _Batch:
    """The members' data stacked and padded, and what the training loop needs of them."""

    def __init__(
        self, plans: Sequence[FitPlan], spec: BatchedObjective, class_weights: Sequence[torch.Tensor | None]
    ) -> None:
        self.plans, self.spec = list(plans), spec
        first = plans[0]
        self.device = first.x.device
        # Stacked batches are always batch_size rows (padded), whatever the other members:
        # a member's arithmetic then does not depend on the batch's composition.
        self.batch_size, self.epochs = first.batch_size, first.epochs
        self.with_target = first.target is not None
        self.labelled_data = first.labels is not None
        self.net = StackedNetwork([plan.network for plan in plans])
        self.n_features = first.x.shape[1]
        shapes = dict(self.net.layout)
        self.latent_dim = shapes["mu_head.weight" if self.net.variational else "latent_head.weight"][0]
        self.head_active = spec.head_weight > 0.0 and self.net.has_head and self.labelled_data
        # The shared head reports "classification" on every step, the head objective only on labelled ones.
        self.always_classified = spec.shared_head_weight > 0.0 and self.net.has_head and self.labelled_data
        sizes = [plan.x.shape[0] for plan in plans]
        self.x_pad = max(sizes)
        self.steps = math.ceil(self.x_pad / self.batch_size)
        self.member_steps = torch.tensor([math.ceil(n / self.batch_size) for n in sizes])
        # Rows of each member's batch at each step (0 once its epoch is over): they depend on sizes only.
        starts = torch.arange(self.steps).unsqueeze(1) * self.batch_size
        self.counts = (torch.tensor(sizes).unsqueeze(0) - starts).clamp(0, self.batch_size).to(first.x.dtype)
        self.active = [[count > 0 for count in row] for row in self.counts.tolist()]
        self.active_masks = [torch.tensor(row, device=self.device) for row in self.active]
        self.own_rows = [self._own_rows(row) for row in self.counts.long().tolist()]
        self.counts = self.counts.to(self.device)
        self.x = _padded([plan.x for plan in plans], self.x_pad + 1, 0.0).to(self.device)
        labels = [
            plan.labels if plan.labels is not None else torch.full((plan.x.shape[0],), UNLABELLED, dtype=torch.long)
            for plan in plans
        ]
        self.labelled_rows = [label.cpu() != UNLABELLED for label in labels]
        self.labels = _padded(labels, self.x_pad + 1, UNLABELLED).to(self.device)
        self.row_offsets = (torch.arange(len(plans)) * (self.x_pad + 1)).unsqueeze(1).to(self.device)
        self.target_pad = max(plan.target.shape[0] for plan in plans) if self.with_target else 0
        self.target = (
            _padded([plan.target for plan in plans], self.target_pad + 1, 0.0).to(self.device)
            if self.with_target
            else None
        )
        # Class weights of the head, member by member (None: no member weighs its classes).
        self.class_weights = (
            [None if weights is None else weights.to(self.device) for weights in class_weights]
            if any(weights is not None for weights in class_weights)
            else None
        )

    def _own_rows(self, counts: list[int]) -> OwnRows | None:
        """Each member's rows of one step's stacked [x; target] ([0, n) and [B, B + n_target)), if not all."""
        target_counts = (
            [min(count, plan.target.shape[0]) for count, plan in zip(counts, self.plans)]
            if (self.with_target)
            else [0] * len(counts)
        )
        full = self.batch_size if self.with_target else 0
        if all(count == self.batch_size for count in counts) and all(count == full for count in target_counts):
            return None
        if not self.with_target:
            return OwnRows.from_counts(counts, self.batch_size, self.device)
        return OwnRows.from_rows(
            [
                torch.cat([torch.arange(count), self.batch_size + torch.arange(target)])
                for count, target in zip(counts, target_counts, strict=True)
            ],
            2 * self.batch_size,
            self.device,
        )

    def epoch_rows(self, draws: _EpochDraws) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The epoch's rows in drawn order, [M, steps * B, ...]: features, labels, which rows are real."""
        members, length = draws.index.shape
        index = draws.index.to(self.device)
        # One index_select over the members' rows laid end to end: a plain copy, cheaper than x[members, index].
        flat = (index + self.row_offsets).view(-1)
        x = self.x.view(-1, self.x.shape[2]).index_select(0, flat).view(members, length, -1)
        return x, self.labels.view(-1).index_select(0, flat).view(members, length), index != self.x_pad

    def step_input(
        self, draws: _EpochDraws, epoch_rows: tuple[torch.Tensor, ...], step: int, beta: torch.Tensor
    ) -> StepInput:
        """The stacked inputs of one step of this epoch."""
        x, labels, real = (rows[:, step * self.batch_size : (step + 1) * self.batch_size] for rows in epoch_rows)
        target = target_rows = None
        if draws.target_index is not None:
            members = torch.arange(len(self.plans), device=self.device).unsqueeze(1)
            target_index = draws.target_index[step].to(self.device)
            target, target_rows = self.target[members, target_index], target_index != self.target_pad
        return StepInput(
            x=x,
            rows=real,
            count=self.counts[step],
            labels=labels,
            target=target,
            target_rows=target_rows,
            noise=draws.noise[step].to(self.device),
            head_noise=None if draws.head_noise is None else draws.head_noise[step].to(self.device),
            head_eps=None if draws.head_eps is None else draws.head_eps[step].to(self.device),
            beta=beta,
            own_rows=self.own_rows[step],
        )


def train_batched(plans: Sequence[FitPlan]) -> list[list[dict[str, float]]]:
    """Train every plan's network in place, all together; return each one's history.

    The plans must share the architecture, ``epochs``, ``batch_size``, whether they have
    target rows and labels, and a supported objective of one :class:`BatchedObjective`
    (class weights and learning rates may differ); :func:`fit_batched` groups them so.
    Histories are those :func:`~crossemo.models.training.train_network` returns.
    """
    if not plans:
        return []
    specs = [batched_objective(plan.objective, with_target=plan.target is not None) for plan in plans]
    if any(spec is None for spec in specs) or len({spec[0] for spec in specs}) != 1:
        raise ModelInputError("train_batched needs plans whose objectives share one supported batched form")
    keys = {_group_key(plan) for plan in plans}
    if len(keys) != 1:
        raise ModelInputError(f"train_batched needs plans of one shape; got {len(keys)} different ones")
    batch = _Batch(plans, specs[0][0], [spec[1] for spec in specs])
    members = len(plans)
    adam = BatchedAdam(batch.net.flat, batch.net.grad, batch.net.head_columns, [plan.learning_rate for plan in plans])
    histories: list[list[dict[str, float]]] = [[] for _ in plans]
    for plan in plans:
        plan.network.train()
    draws = None
    for epoch in range(1, batch.epochs + 1):
        betas = [None if plan.beta_for_epoch is None else plan.beta_for_epoch(epoch) for plan in plans]
        beta = torch.tensor([1.0 if value is None else value for value in betas], device=batch.device).unsqueeze(1)
        if draws is None:
            draws = _EpochDraws(batch)
        else:
            draws.redraw(batch)
        epoch_rows = batch.epoch_rows(draws)
        names: list[str] = []
        sums: torch.Tensor | None = None  # [terms, M]
        reported = torch.zeros(members, dtype=torch.bool, device=batch.device)
        for step in range(batch.steps):
            active_list = batch.active[step]
            active = batch.active_masks[step]
            inputs = batch.step_input(draws, epoch_rows, step, beta.squeeze(1))
            loss, terms, head_used = step_loss(
                batch.spec,
                batch.net,
                inputs,
                labelled_data=batch.labelled_data,
                class_weights=batch.class_weights,
            )
            _backward((loss * active).sum())
            adam.step(active_list, None if head_used is None else head_used.tolist())
            names = ["loss", *terms]
            values = torch.stack([loss, *terms.values()]).detach() * active
            sums = values if sums is None else sums + values
            if head_used is not None:
                reported |= head_used & active
        _record(
            histories,
            epoch,
            betas,
            dict(zip(names, sums, strict=True)),
            reported | batch.always_classified,
            batch.member_steps,
        )
    batch.net.write_back([plan.network for plan in plans])
    for plan in plans:
        plan.network.eval()
    return histories


def _backward(loss: torch.Tensor) -> None:
    """``loss.backward()``, without autograd's warning about the gradients' layout.

    The layers' gradients are strided views of the flat buffer (:class:`StackedNetwork`), which
    autograd warns may be slow; accumulating into them is what saves copying them.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")
        loss.backward()


def _record(
    histories: list[list[dict[str, float]]],
    epoch: int,
    betas: list[float | None],
    sums: dict[str, torch.Tensor],
    reported: torch.Tensor,
    member_steps: torch.Tensor,
) -> None:
    """Append each member's epoch record: the solo loop's per-batch means of every term."""
    means = {name: (total.cpu() / member_steps).tolist() for name, total in sums.items()}
    reported_list = reported.tolist()
    for member, history in enumerate(histories):
        record: dict[str, float] = {"epoch": epoch}
        if betas[member] is not None:
            record["beta"] = betas[member]
        for name, values in means.items():
            # The head reports only on steps with labelled rows; a member without any never does.
            if name != "classification" or reported_list[member]:
                record[name] = values[member]
        history.append(record)


def _group_key(plan: FitPlan) -> tuple[Any, ...]:
    """What members of one batch must share (besides the objective's batched form)."""
    return (
        tuple(parameter_layout(plan.network)),  # the head's width included: the class count
        plan.epochs,
        plan.batch_size,
        plan.target is not None,
        plan.labels is not None,
        plan.x.device,
    )


def group_plans(plans: Sequence[FitPlan]) -> list[list[int]]:
    """Indices of ``plans`` grouped into batches; an unsupported plan forms a group of its own.

    Plans share a group when :func:`train_batched` can train them together.
    """
    groups: dict[Any, list[int]] = {}
    singles: list[list[int]] = []
    for position, plan in enumerate(plans):
        spec = batched_objective(plan.objective, with_target=plan.target is not None)
        if spec is None:
            singles.append([position])
            continue
        groups.setdefault((_group_key(plan), spec[0]), []).append(position)
    return [*groups.values(), *singles]


FitData = tuple[Any, Any, Any]
"""One fit's ``(X, y, target)``: what ``fit(X, y, target=target)`` would get."""


def fit_batched(estimators: Sequence[LatentModel], datasets: Sequence[FitData]) -> list[LatentModel]:
    """Fit every estimator on its ``(X, y, target)``, training networks of one shape together.

    Each estimator ends as ``estimator.fit(X, y, target=target)`` leaves it (bitwise on
    the CPU: :func:`train_batched`); the ones no batch can take are trained on their
    own.  Returns ``estimators``.
    """
    if len(estimators) != len(datasets):
        raise ModelInputError(f"fit_batched: {len(estimators)} estimators but {len(datasets)} datasets (one each)")
    plans = [
        estimator._plan_fit(X, y, target=target) for estimator, (X, y, target) in zip(estimators, datasets, strict=True)
    ]
    for group in group_plans(plans):
        members = [plans[position] for position in group]
        histories = [members[0].train()] if len(members) == 1 else train_batched(members)
        for position, history in zip(group, histories, strict=True):
            estimators[position]._finish_fit(plans[position].network, history)
    return list(estimators)


class _FitRecorded(Exception):
    """Stops a caller at its latent model's ``fit``, once :func:`record_fit` has the model and input."""


@dataclass(frozen=True)
class RecordedFit:
    """A latent model's fit a caller was about to make: the model (unfitted) and ``(X, y, target)``."""

    estimator: LatentModel
    data: FitData


def record_fit(call: Callable[[], Any]) -> RecordedFit | None:
    """Run ``call`` up to its first latent-model ``fit``; return that model and input (``None``: no such fit).

    ``call`` is cut short there, so whatever it does after the fit does not happen.
    """
    recorded: list[RecordedFit] = []

    def stop(model: LatentModel, X: Any, y: Any, target: Any) -> LatentModel:
        recorded.append(RecordedFit(model, (X, y, target)))
        raise _FitRecorded

    with handling_fits(stop):
        try:
            call()
        except _FitRecorded:
            return recorded[0]
    return None


def replaying(fitted: RecordedFit) -> Callable[[LatentModel, Any, Any, Any], LatentModel]:
    """A fit handler (:func:`~crossemo.models.base.handling_fits`) that hands ``fitted``'s trained state over.

    The fit it replaces must be the recorded one: same model class and parameters,
    the same input.  It serves one fit; a second one raises.
    """
    served: list[bool] = []

    def adopt(model: LatentModel, X: Any, y: Any, target: Any) -> LatentModel:
        recorded_X, recorded_y, recorded_target = fitted.data
        same = (
            not served
            and type(model) is type(fitted.estimator)
            and model.get_params() == fitted.estimator.get_params()
            and _same_rows(X, recorded_X)
            and _same_rows(y, recorded_y)
            and _same_rows(target, recorded_target)
        )
        if not same:
            raise ModelInputError(
                f"{type(model).__name__}: this fit is not the one batched training trained "
                "(another model, other parameters or other rows)"
            )
        served.append(True)
        model.__dict__.update(fitted.estimator.__dict__)
        return model

    return adopt


def _same_rows(first: Any, second: Any) -> bool:
    if first is None or second is None:
        return first is None and second is None
    first, second = np.asarray(first), np.asarray(second)
    if first.dtype == object or second.dtype == object:
        return first.shape == second.shape and all(
            (a is b) or a == b or (a != a and b != b) for a, b in zip(first.ravel().tolist(), second.ravel().tolist())
        )
    return np.array_equal(first, second)
