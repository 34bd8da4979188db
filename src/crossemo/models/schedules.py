"""Cyclical KL-weight annealing (SPEC §2, paper Eq. 4)."""

from __future__ import annotations

from fractions import Fraction


def beta_schedule(
    epoch: int,
    *,
    epochs: int = 50,
    cycles: int = 2,
    ratio: float = 0.5,
    beta_max: float = 0.25,
) -> float:
    """KL weight beta_e of the 1-based ``epoch`` under cyclical annealing.

    tau = ((e - 1) mod (T / M)) / (T / M) with T = ``epochs`` and M = ``cycles``;
    beta_e = (beta_max / R) * tau if tau <= R, else beta_max, with R = ``ratio``.
    T / M need not be an integer: tau is computed exactly as ((e - 1) * M mod T) / T,
    which equals the formula with the real-valued cycle length T / M.

    >>> [beta_schedule(e) for e in (1, 2, 13, 14, 25, 26, 27)]
    [0.0, 0.02, 0.24, 0.25, 0.25, 0.0, 0.02]
    """
    if epoch < 1:
        raise ValueError(f"epoch is 1-based, got {epoch}")
    if epochs < 1 or cycles < 1:
        raise ValueError(f"epochs and cycles must be >= 1, got epochs={epochs}, cycles={cycles}")
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    # Exact rational arithmetic: a float modulo by T/M misplaces cycle starts when T/M
    # is not representable (e.g. T = 7, M = 3), and the product is then rounded once.
    tau = Fraction((epoch - 1) * cycles % epochs, epochs)
    if tau <= Fraction(ratio):
        return float(Fraction(beta_max) / Fraction(ratio) * tau)
    return float(beta_max)
