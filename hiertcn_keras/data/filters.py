"""Count-based filters used by `prepare` (item support, user activity, session length).

Every filter returns a boolean *keep* mask; `prepare` applies them in a fixed, documented order
and counts what each removed, so nothing disappears without a reason in `stats.json`.
"""

from __future__ import annotations

import numpy as np


def min_count_mask(codes, min_count, n_codes=None):
    """Keep the events whose code occurs at least `min_count` times.

    Args:
        codes: int array `[n]`. Non-negative codes (item or user codes).
        min_count: int. Threshold (inclusive).
        n_codes: int or `None`. Number of distinct codes (`codes.max() + 1` if `None`).

    Returns:
        bool array `[n]`.
    """
    if min_count <= 1 or len(codes) == 0:
        return np.ones(len(codes), dtype=bool)
    counts = np.bincount(codes, minlength=n_codes or 0)
    return counts[codes] >= min_count


def count_range_masks(codes, low, high, n_codes=None):
    """Split events by whether their code's count is below, within or above `[low, high]`.

    Args:
        codes: int array `[n]`.
        low: int. Minimum count (inclusive); 1 or less disables the lower bound.
        high: int or `None`. Maximum count (inclusive); `None` disables it.
        n_codes: int or `None`.

    Returns:
        `(too_few, too_many)`: two bool arrays `[n]`.
    """
    if len(codes) == 0:
        empty = np.zeros(0, dtype=bool)
        return empty, empty
    counts = np.bincount(codes, minlength=n_codes or 0)[codes]
    too_few = counts < low if low > 1 else np.zeros(len(codes), dtype=bool)
    too_many = counts > high if high is not None else np.zeros(len(codes), dtype=bool)
    return too_few, too_many


def group_size(group_ids):
    """Size of each event's group, for groups given as contiguous ids 0..G-1 in order.

    Args:
        group_ids: int array `[n]`, non-decreasing.

    Returns:
        int64 array `[n]`.
    """
    if len(group_ids) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.bincount(group_ids)[group_ids]
