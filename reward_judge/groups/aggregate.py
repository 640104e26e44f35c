"""From a group's pair outcomes to one value per completion: win rate or Bradley-Terry.

The inputs are *entrants* (distinct completions of a group; ``copies[i]`` completions are identical to
entrant i) and *games* ``(i, j, s)``: entrant i's soft outcome ``s`` in [0, 1] against entrant j (j's is
``1 - s``). Only valid comparisons are games: a failed one is left out, never scored as a tie. A game
between entrants counts once per pair of copies (weight ``copies[i] * copies[j]``), and the copies of one
completion tie with each other without a judge call, so a group with repeated completions is scored as
if every copy had been compared.

- ``win_rate``: the mean outcome over a completion's games, ties counting half.
- ``bradley_terry``: strengths theta maximising the (weighted, soft-outcome) likelihood of
  P(i beats j) = sigmoid(theta_i - theta_j), with a prior of ``bt_prior`` virtual tied games per
  completion against a virtual opponent of strength 0 (like a Gaussian prior of variance 4 / bt_prior
  on theta), so an undefeated or winless completion still gets a finite strength. The value of a
  completion is its expected win rate under the fitted model against the rest of its group, which fills
  in the pairs a budgeted design never judged.

Both values are in [0, 1]; entrants without any valid game get ``None`` (the declared fallback).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

WIN_RATE = "win_rate"
BRADLEY_TERRY = "bradley_terry"
AUTO = "auto"
AGGREGATIONS = (AUTO, WIN_RATE, BRADLEY_TERRY)

Game = tuple[int, int, float]


def win_rates(copies: Sequence[int], games: Sequence[Game]) -> list[Optional[float]]:
    """Each entrant's mean outcome over its games (copies weighted; ties among its own copies count half).

    Example:
        >>> win_rates([1, 1, 1], [(0, 1, 1.0), (0, 2, 0.5), (1, 2, 0.0)])
        [0.75, 0.0, 0.75]
        >>> win_rates([2, 1], [(0, 1, 1.0)])  # the two copies of entrant 0 tie with each other
        [0.75, 0.0]
    """
    total = [0.0] * len(copies)
    weight = [0.0] * len(copies)
    played = [False] * len(copies)
    for i, j, s in games:
        total[i] += copies[j] * s
        weight[i] += copies[j]
        total[j] += copies[i] * (1.0 - s)
        weight[j] += copies[i]
        played[i] = played[j] = True
    return [(total[i] + 0.5 * (copies[i] - 1)) / (weight[i] + copies[i] - 1) if played[i] else None
            for i in range(len(copies))]


def bradley_terry(copies: Sequence[int], games: Sequence[Game], prior: float = 1.0,
                  *, tolerance: float = 1e-10, max_iterations: int = 100) -> list[Optional[float]]:
    """Maximum-likelihood Bradley-Terry strengths (natural-log odds) with the virtual-tie prior; ``None``
    for entrants without games. Newton's method on the concave log-likelihood, with step halving.

    Example:
        >>> theta = bradley_terry([1, 1, 1], [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0)])
        >>> [round(t, 3) + 0.0 for t in theta]   # undefeated and winless, still finite
        [1.295, 0.0, -1.295]
    """
    import numpy as np

    if not prior > 0:
        raise ValueError(f"bt_prior must be a positive number, got {prior!r}")
    active = sorted({i for i, _, _ in games} | {j for _, j, _ in games})
    if not active:
        return [None] * len(copies)
    where = {e: k for k, e in enumerate(active)}
    left = np.array([where[i] for i, _, _ in games], dtype=np.int64)
    right = np.array([where[j] for _, j, _ in games], dtype=np.int64)
    outcome = np.array([s for _, _, s in games], dtype=np.float64)
    weight = np.array([copies[i] * copies[j] for i, j, _ in games], dtype=np.float64)
    prior_weight = prior * np.array([copies[e] for e in active], dtype=np.float64)
    n = len(active)

    def log_likelihood(theta):
        diff = theta[left] - theta[right]
        games_ll = weight * (outcome * -np.logaddexp(0.0, -diff) + (1.0 - outcome) * -np.logaddexp(0.0, diff))
        prior_ll = prior_weight * 0.5 * (-np.logaddexp(0.0, -theta) - np.logaddexp(0.0, theta))
        return float(games_ll.sum() + prior_ll.sum())

    theta = np.zeros(n)
    current = log_likelihood(theta)
    for _ in range(max_iterations):
        p = 1.0 / (1.0 + np.exp(-(theta[left] - theta[right])))
        residual = weight * (outcome - p)
        curvature = weight * p * (1.0 - p)
        q = 1.0 / (1.0 + np.exp(-theta))
        gradient = prior_weight * (0.5 - q)
        np.add.at(gradient, left, residual)
        np.add.at(gradient, right, -residual)
        hessian = np.diag(-prior_weight * q * (1.0 - q))
        np.add.at(hessian, (left, left), -curvature)
        np.add.at(hessian, (right, right), -curvature)
        np.add.at(hessian, (left, right), curvature)
        np.add.at(hessian, (right, left), curvature)
        step = np.linalg.solve(hessian, -gradient)
        scale = 1.0
        while True:
            candidate = theta + scale * step
            value = log_likelihood(candidate)
            if value >= current - 1e-12 or scale < 1e-6:
                break
            scale /= 2.0
        theta, current = candidate, value
        if float(np.max(np.abs(scale * step))) < tolerance:
            break
    strengths: list[Optional[float]] = [None] * len(copies)
    for e, k in where.items():
        strengths[e] = float(theta[k])
    return strengths


def expected_win_rates(copies: Sequence[int], strengths: Sequence[Optional[float]]) -> list[Optional[float]]:
    """Each entrant's expected win rate against the rest of its group under fitted strengths (copies tie).

    Example:
        >>> [round(v, 3) for v in expected_win_rates([1, 1], [1.0, -1.0])]
        [0.881, 0.119]
    """
    values: list[Optional[float]] = []
    for i, theta_i in enumerate(strengths):
        if theta_i is None:
            values.append(None)
            continue
        total, weight = 0.5 * (copies[i] - 1), float(copies[i] - 1)
        for j, theta_j in enumerate(strengths):
            if j != i and theta_j is not None:
                total += copies[j] / (1.0 + math.exp(-(theta_i - theta_j)))
                weight += copies[j]
        values.append(total / weight if weight else 0.5)
    return values


def resolve_aggregation(aggregation: str, pairing: str) -> str:
    """``auto`` -> Bradley-Terry for a budgeted design (``ring``), the win rate otherwise.

    Example:
        >>> resolve_aggregation("auto", "ring"), resolve_aggregation("auto", "round_robin")
        ('bradley_terry', 'win_rate')
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation={aggregation!r} is not one of {AGGREGATIONS}")
    if aggregation != AUTO:
        return aggregation
    return BRADLEY_TERRY if pairing == "ring" else WIN_RATE
