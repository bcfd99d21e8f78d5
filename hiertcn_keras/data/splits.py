"""Train/validation/test protocols.

- `temporal` (default): two global time cuts at quantiles of the event times (80% and 90% by
  default). Events before the first cut are training events; events in `[cut1, cut2)` are
  validation targets and events from `cut2` on are test targets. Evaluating a split replays
  every earlier event of the user to build the state, so nothing from the future leaks in and
  nothing from the past is thrown away.
- `paper` (the official HierTCN code): users sorted by id are split 80/10/10; every event of a
  validation or test user is a target and the state is built from scratch (cold-start users).

Each event carries one split code: 0 = train, 1 = valid, 2 = test.
"""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "valid", "test")
TRAIN, VALID, TEST = 0, 1, 2
PROTOCOLS = ("temporal", "paper")


def split_code(name):
    """Return the code (0, 1, 2) of a split name, with a clear error for anything else."""
    if name not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
    return SPLITS.index(name)


def temporal_split(timestamp, quantiles=(0.8, 0.9)):
    """Split events by two global time cuts.

    Args:
        timestamp: float array `[n]`. Event times in seconds.
        quantiles: pair of floats. Quantiles of the event times where the validation and test
            periods start. Defaults to `(0.8, 0.9)`.

    Returns:
        `(split, cuts)`: int8 array `[n]` of split codes, and the two cut times in seconds.
    """
    q1, q2 = quantiles
    if not 0.0 < q1 <= q2 < 1.0:
        raise ValueError(f"split quantiles must satisfy 0 < q1 <= q2 < 1, got {quantiles}")
    if len(timestamp) == 0:
        return np.zeros(0, dtype=np.int8), (float("nan"), float("nan"))
    cut1, cut2 = np.quantile(timestamp, [q1, q2], method="lower")
    split = np.zeros(len(timestamp), dtype=np.int8)
    split[timestamp >= cut1] = VALID
    split[timestamp >= cut2] = TEST
    return split, (float(cut1), float(cut2))


def lower_quantile_ranks(n, quantiles):
    """0-based ranks of the order statistics `np.quantile(x, quantiles, method="lower")` returns.

    For `n` sorted values `v`, `np.quantile(v, q, method="lower") == v[floor((n - 1) * q)]`,
    computed in float64 exactly as NumPy does, so an engine that can only find the k-th smallest
    value (Spark) reproduces the temporal cuts bit for bit.

    Args:
        n: int. Number of values (≥ 1).
        quantiles: sequence of floats in [0, 1].

    Returns:
        list of int.
    """
    if n < 1:
        raise ValueError(f"need at least one value, got n={n}")
    return [int(k) for k in np.floor((n - 1) * np.asarray(quantiles, dtype=np.float64)).astype(np.intp)]


def user_split(user_rank, fractions=(0.8, 0.1, 0.1)):
    """Split users by their rank in id order, as the official code does.

    Args:
        user_rank: int array `[n]`. Each event's user rank 0..U-1 in sorted-id order.
        fractions: three floats summing to 1. Defaults to `(0.8, 0.1, 0.1)`.

    Returns:
        int8 array `[n]` of split codes.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    n_users = int(user_rank.max()) + 1 if len(user_rank) else 0
    n_train = int(np.floor(fractions[0] * n_users))
    n_valid = int(np.floor((fractions[0] + fractions[1]) * n_users)) - n_train
    split = np.full(len(user_rank), TEST, dtype=np.int8)
    split[user_rank < n_train + n_valid] = VALID
    split[user_rank < n_train] = TRAIN
    return split
