"""Sessionization by idle gap, on arrays already sorted by (user, time, source row).

A session is a maximal run of one user's events in which no two consecutive events are
`gap` seconds or more apart (a gap *equal* to the threshold starts a new session, as in the
official HierTCN code). Equal timestamps keep their source order: the caller sorts by
(user, timestamp, row), so the tie-break is deterministic and documented.

Worked example with `gap=1800`:

    user       a     a     a      a      b
    timestamp  0     60    1860   1861   70
    starts     True  False True   False  True     (1860 - 60 = 1800 ≥ gap; new user)
    session    0     0     1      1      2
    position   0     1     0      1      0
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.artifacts.session_rules import starts_session


def session_starts(user, timestamp, *, gap=1800.0, session_key=None):
    """Mark the events that start a session.

    Args:
        user: int array `[n]`. User codes, sorted (grouped) by user.
        timestamp: float array `[n]`. Seconds, non-decreasing within each user.
        gap: float. Idle seconds that start a new session (`>=`). Defaults to 1800.
        session_key: int array `[n]` or `None`. Session ids given by the source; when set,
            a change of key starts a session instead of the gap rule.

    Returns:
        bool array `[n]`, `True` at the first event of every session.
    """
    if gap <= 0:
        raise ValueError(f"session gap must be > 0 seconds, got {gap}")
    n = len(user)
    starts = np.ones(n, dtype=bool)
    if n <= 1:
        return starts
    new_user = user[1:] != user[:-1]
    if session_key is not None:
        boundary = session_key[1:] != session_key[:-1]
    else:
        boundary = starts_session(timestamp[1:] - timestamp[:-1], gap)
    starts[1:] = new_user | boundary
    return starts


def positions(starts):
    """Position of every event within its session (0 at a session's first event).

    Args:
        starts: bool array `[n]` from `session_starts`.

    Returns:
        int64 array `[n]`.
    """
    idx = np.arange(len(starts))
    first = np.maximum.accumulate(np.where(starts, idx, 0))
    return idx - first


def session_ids(starts):
    """Contiguous session numbers 0, 1, ... from session-start flags."""
    return np.cumsum(starts, dtype=np.int64) - 1
