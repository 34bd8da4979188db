"""Layers of stacked networks on each member's own rows, with the solo loop's arithmetic.

BLAS picks its kernel by the row count, so a member whose mini-batch is shorter than
the stacked one (its epoch's last batch, or its labelled rows) gets the solo loop's
rounding only from products over its own rows.  :class:`OwnRows` lays those rows of
every member end to end (one copy in, one out), members with as many rows next to each
other; :class:`OwnRowsChain` runs a stack of layers there.  Members with the same row
count share grouped products (``torch.baddbmm``, as the full steps do: each member's
product is the one ``F.linear`` computes on its rows); a member alone with its count,
or a product too small for BLAS (:data:`SMALL_PRODUCT`), is computed on its own as
``F.linear`` does.  The backward is autograd's for those operations: a member's weight
gradient sums over its own rows only (not over padding, which would associate the same
terms in another order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

SMALL_PRODUCT = 400
"""Below this many multiply-adds per member (rows x in x out), ``torch.bmm`` on the CPU uses its
own loops, whose rounding differs from the BLAS product of the solo loop's ``F.linear``; such
layers are computed member by member (torch 2.x, ``aten/src/ATen/native/LinearAlgebra.cpp``)."""


@dataclass(frozen=True)
class _Group:
    """Members with ``rows`` own rows each, from row ``start`` of the end-to-end layout, member by member."""

    start: int
    rows: int
    members: list[int]
    index: torch.Tensor
    first: int  # the first member's place in the layout, member by member

    @property
    def stop(self) -> int:
        return self.start + self.rows * len(self.members)


class OwnRows:
    """Each member's own rows of a stacked [M, R, ...] tensor, laid end to end.

    Members are grouped by their row count (the groups in increasing count, members in
    order within one); ``positions`` are the rows' flat positions m * R + r in that layout.
    """

    def __init__(self, positions: Sequence[torch.Tensor], length: int, device: torch.device) -> None:
        """``positions[m]``: member m's own rows as flat positions m * R + r, in order."""
        self.members, self.length = len(positions), length
        counts: dict[int, list[int]] = {}
        for member, own in enumerate(positions):
            if own.numel():
                counts.setdefault(int(own.numel()), []).append(member)
        self.groups: list[_Group] = []
        pieces, start = [], 0
        for count in sorted(counts):
            members = counts[count]
            first = sum(len(group.members) for group in self.groups)
            self.groups.append(_Group(start, count, members, torch.tensor(members, device=device), first))
            pieces += [positions[member] for member in members]
            start += count * len(members)
        self.positions = torch.cat(pieces).to(device) if pieces else torch.zeros(0, dtype=torch.long, device=device)
        self.sizes = [group.rows for group in self.groups for _ in group.members]

    def split(self, ragged: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The end-to-end rows' views, member by member in the layout's order."""
        return ragged.split(self.sizes)

    @classmethod
    def from_rows(cls, rows: Sequence[torch.Tensor], length: int, device: torch.device) -> OwnRows:
        """``rows[m]``: member m's own row positions in [0, R), in order."""
        return cls([own.to(device) + member * length for member, own in enumerate(rows)], length, device)

    @classmethod
    def from_counts(cls, counts: Sequence[int], length: int, device: torch.device) -> OwnRows:
        """Member m's rows: its first ``counts[m]``."""
        return cls.from_rows([torch.arange(count) for count in counts], length, device)

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> OwnRows:
        """Member m's rows: where ``mask[m]`` is true."""
        flat = mask.reshape(-1).nonzero().squeeze(1)
        return cls(flat.split(mask.sum(dim=1).tolist()), mask.shape[1], mask.device)

    def gather(self, padded: torch.Tensor) -> torch.Tensor:
        """[M, R, F] -> [N, F]: the own rows, end to end."""
        return padded.reshape(-1, padded.shape[2]).index_select(0, self.positions)

    def scatter(self, ragged: torch.Tensor) -> torch.Tensor:
        """[N, F] -> [M, R, F], zero on the rows that are not a member's own."""
        out = ragged.new_zeros(self.members * self.length, ragged.shape[1])
        return out.index_copy_(0, self.positions, ragged).view(self.members, self.length, -1)


def _grouped(group: _Group, weight: torch.Tensor) -> bool:
    """Whether ``group``'s product goes through ``torch.bmm`` (else member by member, ``addmm``)."""
    return len(group.members) > 1 and group.rows * weight.shape[1] * weight.shape[2] >= SMALL_PRODUCT


def _of(group: _Group, tensor: torch.Tensor) -> torch.Tensor:
    """The group's members' slices of a [M, ...] tensor."""
    return tensor if len(group.members) == tensor.shape[0] else tensor.index_select(0, group.index)


def _forward(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, rows: OwnRows) -> torch.Tensor:
    """Each member's x W^T + b on its own rows, as ``F.linear`` (``addmm``) or the full steps' ``baddbmm``."""
    pieces = []
    weights = biases = parts = None
    for group in rows.groups:
        if _grouped(group, weight):
            stacked = h[group.start : group.stop].view(len(group.members), group.rows, -1)
            product = torch.baddbmm(_of(group, bias).unsqueeze(1), stacked, _of(group, weight).transpose(1, 2))
            pieces.append(product.view(-1, weight.shape[1]))
            continue
        if parts is None:
            weights, biases, parts = weight.transpose(1, 2).unbind(0), bias.unbind(0), rows.split(h)
        for place, member in enumerate(group.members, start=group.first):
            pieces.append(torch.addmm(biases[member], parts[place], weights[member]))
    return torch.cat(pieces) if pieces else h.new_zeros(0, weight.shape[1])


def _input_grad(grad: torch.Tensor, weight: torch.Tensor, rows: OwnRows) -> torch.Tensor:
    """grad @ W per member: the backward of ``addmm`` and ``baddbmm`` for their input."""
    pieces = []
    weights = parts = None
    for group in rows.groups:
        if _grouped(group, weight):
            stacked = grad[group.start : group.stop].view(len(group.members), group.rows, -1)
            pieces.append(stacked.bmm(_of(group, weight)).view(-1, weight.shape[2]))
            continue
        if parts is None:
            weights, parts = weight.unbind(0), rows.split(grad)
        for place, member in enumerate(group.members, start=group.first):
            pieces.append(parts[place].mm(weights[member]))
    return torch.cat(pieces) if pieces else grad.new_zeros(0, weight.shape[2])


def _weight_grads(
    grad: torch.Tensor, h: torch.Tensor, weight: torch.Tensor, rows: OwnRows
) -> tuple[torch.Tensor, torch.Tensor]:
    """[M, out, in] and [M, out]: the weight and bias gradients over each member's own rows.

    ``addmm``'s backward for a transposed (column-major) weight computes grad^T @ x and
    sums the bias gradient with ``keepdim``; ``baddbmm``'s computes x^T @ grad per member
    and sums over the rows.  Members without rows get 0.
    """
    members = weight.shape[0]
    weight_grads: list[torch.Tensor | None] = [None] * members
    bias_grads: list[torch.Tensor | None] = [None] * members
    grad_parts = h_parts = None
    for group in rows.groups:
        if _grouped(group, weight):
            block = slice(group.start, group.stop)
            stacked = grad[block].view(len(group.members), group.rows, -1)
            own_h = h[block].view(len(group.members), group.rows, -1)
            weight_grad = own_h.transpose(1, 2).bmm(stacked).transpose(1, 2)
            bias_grad = stacked.sum(1)
            if len(group.members) == members:  # everyone, in order
                return weight_grad, bias_grad
            for member, own_weight, own_bias in zip(group.members, weight_grad, bias_grad, strict=True):
                weight_grads[member], bias_grads[member] = own_weight, own_bias
            continue
        if grad_parts is None:
            grad_parts, h_parts = rows.split(grad), rows.split(h)
        for place, member in enumerate(group.members, start=group.first):
            weight_grads[member] = grad_parts[place].t().mm(h_parts[place])
            bias_grads[member] = grad_parts[place].sum(0, keepdim=True).view(-1)
    if any(value is None for value in weight_grads):
        zero_weight, zero_bias = weight.new_zeros(weight.shape[1:]), weight.new_zeros(weight.shape[1])
        weight_grads = [zero_weight if value is None else value for value in weight_grads]
        bias_grads = [zero_bias if value is None else value for value in bias_grads]
    return torch.stack(weight_grads), torch.stack(bias_grads)


class OwnRowsChain(torch.autograd.Function):
    """``n_body`` layers each followed by a ReLU, then heads reading the last hidden layer.

    ``apply(x, rows, n_body, *params)`` with ``params`` the layers' [M, out, in] weights
    and [M, out] biases in order (body, then heads); returns one [M, R, out] output per
    head, 0 on the rows not a member's own.
    """

    @staticmethod
    def forward(ctx, x, rows, n_body, *params):  # noqa: ANN001, ANN205 - autograd's signature
        ctx.set_materialize_grads(False)
        weights, biases = params[0::2], params[1::2]
        h = rows.gather(x)
        inputs, outputs = [], []
        for layer in range(n_body):
            inputs.append(h)
            h = torch.relu(_forward(h, weights[layer], biases[layer], rows))
            outputs.append(h)
        heads = [_forward(h, weights[layer], biases[layer], rows) for layer in range(n_body, len(weights))]
        inputs.append(h)
        ctx.save_for_backward(*inputs, *outputs, *weights)
        ctx.rows, ctx.n_body = rows, n_body
        return tuple(rows.scatter(head) for head in heads)

    @staticmethod
    def backward(ctx, *grads):  # noqa: ANN001, ANN205
        rows, n_body = ctx.rows, ctx.n_body
        saved = ctx.saved_tensors
        inputs, outputs, weights = saved[: n_body + 1], saved[n_body + 1 : 2 * n_body + 1], saved[2 * n_body + 1 :]
        param_grads: list[torch.Tensor | None] = [None] * (2 * len(weights))
        hidden = None
        for head, grad in enumerate(grads):
            if grad is None:
                continue
            layer = n_body + head
            grad = rows.gather(grad)
            param_grads[2 * layer], param_grads[2 * layer + 1] = _weight_grads(
                grad, inputs[n_body], weights[layer], rows
            )
            if n_body or ctx.needs_input_grad[0]:
                contribution = _input_grad(grad, weights[layer], rows)
                hidden = contribution if hidden is None else hidden + contribution
        for layer in reversed(range(n_body)):
            if hidden is None:
                break
            hidden = torch.ops.aten.threshold_backward(hidden, outputs[layer], 0)
            param_grads[2 * layer], param_grads[2 * layer + 1] = _weight_grads(
                hidden, inputs[layer], weights[layer], rows
            )
            hidden = _input_grad(hidden, weights[layer], rows) if layer or ctx.needs_input_grad[0] else None
        grad_x = rows.scatter(hidden) if hidden is not None and ctx.needs_input_grad[0] else None
        return grad_x, None, None, *param_grads


class SquaredErrors(torch.autograd.Function):
    """Per row sum_f (decoded - x)^2, [M, R]: autograd's values and gradient in fewer passes.

    ``(decoded - x).pow(2).sum(dim=2)``, whose backward is grad * (2 * (decoded - x)^1)
    with grad broadcast over the features: computed here as (2 * diff) * grad, the same
    products, without the copy of diff^1 nor the broadcast product's slow path.
    """

    @staticmethod
    def forward(ctx, decoded, x):  # noqa: ANN001, ANN205 - autograd's signature
        diff = decoded - x
        ctx.save_for_backward(diff)
        return diff.pow(2).sum(dim=2)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        (diff,) = ctx.saved_tensors
        grad_decoded = (diff * 2.0).mul_(grad.unsqueeze(2))
        return grad_decoded, (-grad_decoded if ctx.needs_input_grad[1] else None)
