"""Batched training of latent models: each member trains as it would alone, whatever the batch."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from crossemo.models import DAE, VAE, DAESupervised, ModelInputError, VAEAnnealing, VAESemiSupervised, VAESupervised
from crossemo.models.batched import fit_batched, group_plans, train_batched
from crossemo.models.batched_objectives import ADAM_BETAS, ADAM_EPS, _root
from crossemo.models.batched_ops import OwnRows, SquaredErrors

pytestmark = pytest.mark.usefixtures("one_thread")

HISTORY_TOLERANCE = 1e-5
"""Relative difference of the reported per-epoch losses: masked sums add the same terms in
another order than the solo loop's means (the gradients, and so the weights, are equal)."""

EPOCHS = 8
SIZES = (50, 37, 64)  # rows of the members: with batch 16, 4, 3 and 4 steps, two with a short last batch


def _fit_data(n_rows: int, *, target: bool, seed: int, n_features: int = 12, unlabelled: float = 0.2) -> tuple:
    """Rows of three shifted classes, a share of them unlabelled; target rows from another shift."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, size=n_rows)
    X = (rng.normal(size=(n_rows, n_features)) + codes[:, None]).astype(np.float32)
    y = np.array(["neutral", "sad", "angry"], dtype=object)[codes]
    y[rng.random(n_rows) < unlabelled] = None
    y[:3] = ["neutral", "sad", "angry"]  # every class keeps a label
    rows = rng.normal(loc=0.5, size=(n_rows // 2 + 3, n_features)).astype(np.float32) if target else None
    return X, y, rows


def _models(cls: type, count: int, **params) -> list:
    return [cls(epochs=EPOCHS, batch_size=16, hidden=(16, 8), seed=seed, **params) for seed in range(count)]


def _fitted_weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in model.network_.state_dict().items()}


CASES = [
    pytest.param(DAE, {}, id="dae"),
    pytest.param(VAE, {}, id="vae"),
    pytest.param(VAEAnnealing, {}, id="vae_annealing"),
    pytest.param(VAESemiSupervised, {}, id="vae_ss"),
    pytest.param(DAESupervised, {}, id="dae_sup"),
    pytest.param(DAESupervised, {"head_input": "clean", "balanced_head": True}, id="dae_sup-clean-balanced"),
    pytest.param(VAESupervised, {}, id="vae_sup"),
    pytest.param(VAESupervised, {"head_input": "noisy", "noise_sigma": 0.5}, id="vae_sup-noisy"),
]


@pytest.mark.parametrize("target", [False, True], ids=["paper", "target"])
@pytest.mark.parametrize(("cls", "params"), CASES)
def test_member_trained_in_a_batch_matches_its_solo_fit(cls, params, target):
    datasets = [_fit_data(n, target=target, seed=seed) for seed, n in enumerate(SIZES)]
    models = _models(cls, len(SIZES), **params)
    alone = [copy.deepcopy(model).fit(X, y, target=rows) for model, (X, y, rows) in zip(models, datasets)]
    together = fit_batched([copy.deepcopy(model) for model in models], datasets)
    _assert_same_training(alone, together, datasets)


def _assert_same_training(alone: list, together: list, datasets: list) -> None:
    """Bitwise equal weights and latents (one torch thread), the same history up to rounding."""
    for solo, batched, (X, _, _) in zip(alone, together, datasets):
        solo_weights, batched_weights = _fitted_weights(solo), _fitted_weights(batched)
        assert solo_weights.keys() == batched_weights.keys()
        unequal = [name for name in solo_weights if not torch.equal(solo_weights[name], batched_weights[name])]
        assert not unequal, f"weights differ: {unequal}"
        assert np.array_equal(solo.transform(X), batched.transform(X))
        assert len(batched.history_) == EPOCHS
        for solo_record, batched_record in zip(solo.history_, batched.history_):
            assert solo_record.keys() == batched_record.keys()
            for name, value in solo_record.items():
                assert batched_record[name] == pytest.approx(value, rel=HISTORY_TOLERANCE, abs=1e-7), name


@pytest.mark.parametrize("cls", [DAESupervised, VAESupervised, VAESemiSupervised])
def test_batches_without_labelled_rows_leave_the_head_alone(cls):
    """With few labels some mini-batches have none: the head then has no gradient, and Adam skips it."""
    datasets = [_fit_data(n, target=False, seed=seed, unlabelled=0.9) for seed, n in enumerate((80, 64, 96))]
    models = _models(cls, 3)
    alone = [copy.deepcopy(model).fit(X, y) for model, (X, y, _) in zip(models, datasets)]
    # A tenth of the rows labelled: about one batch of 16 in six has none (0.9 ** 16).
    _assert_same_training(alone, fit_batched([copy.deepcopy(model) for model in models], datasets), datasets)


@pytest.mark.parametrize(("cls", "params"), [CASES[0], CASES[3], CASES[4], CASES[7]])
def test_batch_composition_does_not_change_a_member(cls, params):
    """Member k ends bitwise the same in the batches {k, a} and {b, k, c} (one thread)."""
    datasets = [_fit_data(n, target=True, seed=seed) for seed, n in enumerate((50, 37, 64, 100))]
    models = _models(cls, 4, **params)
    small = fit_batched([copy.deepcopy(models[i]) for i in (0, 1)], [datasets[i] for i in (0, 1)])[0]
    large = fit_batched([copy.deepcopy(models[i]) for i in (3, 0, 2)], [datasets[i] for i in (3, 0, 2)])[1]
    small_weights, large_weights = _fitted_weights(small), _fitted_weights(large)
    assert small_weights.keys() == large_weights.keys()
    assert all(torch.equal(small_weights[name], large_weights[name]) for name in small_weights)
    assert small.history_ == large.history_
    # ... and differs from a member with other data, so the comparison can fail.
    other = fit_batched([copy.deepcopy(models[i]) for i in (0, 1)], [datasets[i] for i in (1, 0)])[1]
    assert not np.array_equal(other.transform(datasets[0][0]), small.transform(datasets[0][0]))


SHARED_SIZES = (58, 37, 58, 64, 58)
"""Rows of members that share their last batch's size: with batch 16, three members end their
epochs on 10 rows together (grouped products), one on 5 rows alone, one on a full batch."""


@pytest.mark.parametrize("target", [False, True], ids=["paper", "target"])
@pytest.mark.parametrize(("cls", "params"), [CASES[0], CASES[3], CASES[4], CASES[6]])
def test_members_sharing_a_short_batch_match_their_solo_fits(cls, params, target):
    """Members whose last batches have as many rows train those together (``torch.baddbmm``), still as alone."""
    datasets = [_fit_data(n, target=target, seed=seed) for seed, n in enumerate(SHARED_SIZES)]
    models = _models(cls, len(SHARED_SIZES), **params)
    alone = [copy.deepcopy(model).fit(X, y, target=rows) for model, (X, y, rows) in zip(models, datasets)]
    together = fit_batched([copy.deepcopy(model) for model in models], datasets)
    _assert_same_training(alone, together, datasets)


@pytest.mark.parametrize(("cls", "params"), [CASES[0], CASES[6]])
def test_a_member_ends_the_same_grouped_or_alone_on_its_short_batches(cls, params):
    """Member 0 (58 rows) shares its last batches' size with member 2 in one batch, with nobody in the other."""
    datasets = [_fit_data(n, target=False, seed=seed) for seed, n in enumerate(SHARED_SIZES)]
    models = _models(cls, len(SHARED_SIZES), **params)
    grouped = fit_batched([copy.deepcopy(models[i]) for i in (0, 2)], [datasets[i] for i in (0, 2)])[0]
    alone = fit_batched([copy.deepcopy(models[i]) for i in (1, 0, 3)], [datasets[i] for i in (1, 0, 3)])[1]
    grouped_weights, alone_weights = _fitted_weights(grouped), _fitted_weights(alone)
    assert all(torch.equal(grouped_weights[name], alone_weights[name]) for name in grouped_weights)
    assert grouped.history_ == alone.history_


def test_own_rows_lay_members_out_by_row_count_and_back():
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 1], [0, 0, 0, 0], [0, 1, 1, 0]], dtype=torch.bool)
    rows = OwnRows.from_mask(mask)
    assert [(group.start, group.rows, group.members) for group in rows.groups] == [(0, 2, [0, 3]), (4, 3, [1])]
    padded = torch.arange(16.0).view(4, 4, 1)
    assert rows.gather(padded).view(-1).tolist() == [0.0, 1.0, 13.0, 14.0, 4.0, 6.0, 7.0]
    assert torch.equal(rows.scatter(rows.gather(padded)), padded * mask.unsqueeze(2))


def test_squared_errors_give_autograds_gradient_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    decoded = torch.randn(3, 5, 7, generator=generator, requires_grad=True)
    x, weights = torch.randn(3, 5, 7, generator=generator), torch.rand(3, 5, generator=generator)
    (SquaredErrors.apply(decoded, x) * weights).sum().backward()
    ours, decoded.grad = decoded.grad, None
    ((decoded - x).pow(2).sum(dim=2) * weights).sum().backward()
    assert torch.equal(ours, decoded.grad)
    assert torch.equal(SquaredErrors.apply(decoded, x), (decoded - x).pow(2).sum(dim=2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adams_denominator_is_unchanged_by_the_square_root_floor(dtype):
    """sqrt on zeros is slow; below the floor sqrt(v) is too small to change sqrt(v) / c + eps."""
    tiny = torch.finfo(dtype).tiny
    second = torch.tensor([0.0, tiny, tiny * 1e3, 1e-40, 1e-30, 1e-20, 1e-16, 1e-12, 3e-7, 1.0], dtype=torch.float64)
    second = second.to(dtype)
    assert bool((_root(second) > 0).all())  # the zeros do go through the floor
    for t in (1, 2, 10, 1000, 100000):
        correction = (1 - ADAM_BETAS[1] ** t) ** 0.5
        plain = second.sqrt().div_(correction).add_(ADAM_EPS)
        assert torch.equal(_root(second).div_(correction).add_(ADAM_EPS), plain), t


def test_unsupported_objectives_train_alone_and_match_fit_exactly():
    """An alignment distance with target rows has no batched form: those fits run one by one."""
    datasets = [_fit_data(n, target=True, seed=seed) for seed, n in enumerate(SIZES)]
    models = _models(DAE, 3, alignment="mmd")
    plans = [copy.deepcopy(model)._plan_fit(X, y, target=rows) for model, (X, y, rows) in zip(models, datasets)]
    assert group_plans(plans) == [[0], [1], [2]]
    with pytest.raises(ModelInputError, match="supported batched form"):
        train_batched(plans)
    together = fit_batched([copy.deepcopy(model) for model in models], datasets)
    for model, batched, (X, y, rows) in zip(models, together, datasets):
        assert np.array_equal(copy.deepcopy(model).fit(X, y, target=rows).transform(X), batched.transform(X))


def test_groups_split_by_shape_and_keep_their_order():
    paper = [_fit_data(n, target=False, seed=seed) for seed, n in enumerate(SIZES)]
    adapted = _fit_data(40, target=True, seed=5)
    models = [*_models(DAE, 3), DAE(epochs=EPOCHS, batch_size=16, hidden=(16, 8), seed=9), VAE(epochs=EPOCHS)]
    datasets = [*paper, adapted, paper[0]]
    plans = [copy.deepcopy(model)._plan_fit(X, y, target=rows) for model, (X, y, rows) in zip(models, datasets)]
    assert sorted(group_plans(plans)) == [[0, 1, 2], [3], [4]]
    fitted = fit_batched([copy.deepcopy(model) for model in models], datasets)
    assert [type(model) for model in fitted] == [DAE, DAE, DAE, DAE, VAE]
    assert all(hasattr(model, "network_") and len(model.history_) == EPOCHS for model in fitted[:4])


def test_fit_batched_refuses_unpaired_input():
    with pytest.raises(ModelInputError, match="2 estimators but 1 datasets"):
        fit_batched(_models(DAE, 2), [_fit_data(20, target=False, seed=0)])
