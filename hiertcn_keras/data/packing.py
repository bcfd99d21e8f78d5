"""Segments laid end to end in batch rows: the packed flat TCN and GRU4Rec's session-parallel batches.

Shape legend: N events, G segments, B batch rows, T steps per row.

A `SegmentTable` keeps every event of a view once (no padded rows) and cuts the events into
segments, the runs that a model reads from a zero state:

- `"history"`: a user's whole history, cut every T events (the flat TCN; the same chunks as
  `FlatTable`, so the packed model scores exactly what the one-user-per-row model scores);
  the input of an event is the user's previous event, 0 at the user's first;
- `"session"`: one session (GRU4Rec); the input of an event is the session's previous event,
  0 at the session's first, so every event, a session's first included, is a target.

Its units are events and its "users" (what the queue batcher keeps together, in order) are
segments, so `QueueBatcher(table, B, T)` lays the segments end to end in B rows of T steps:

- `align=False` (GRU4Rec's session-parallel mini-batches): a segment goes into the row that
  frees first and may continue in the next batch; the model carries each row's state from
  batch to batch and zeroes it where `segment_start` is set. Worked example, B = 2, T = 3,
  sessions of 2, 4 and 1 events (a, b, c):

      row 0: a0 a1 c0 | -  -  -        segment_start: T F T | ...
      row 1: b0 b1 b2 | b3 -  -                       T F F | F ...

- `align=True` (the packed flat TCN, whose rows carry no state): a segment never crosses a
  row; when it does not fit in what is left of a row, the row is padded and it starts the
  next one. The causal convolutions then cut their receptive field at every `segment_start`
  (`TemporalBlock(segments=...)`), so two users sharing a row never see each other.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.tensors import gather_rows

SEGMENTS = ("history", "session")


def _starts(view, segments, max_len):
    """bool `[N]`: the events that start a segment (and those that start a user)."""
    n = len(view)
    new_user = np.ones(n, dtype=bool)
    if n > 1:
        new_user[1:] = view.user[1:] != view.user[:-1]
    if segments == "session":
        start = new_user.copy()
        if n > 1:
            start[1:] |= view.session[1:] != view.session[:-1]
        return start, start
    user_first = np.flatnonzero(new_user)
    uid = np.cumsum(new_user) - 1
    idx_in_user = np.arange(n) - user_first[uid] if n else np.zeros(0, np.int64)
    return new_user | (idx_in_user % max_len == 0), new_user


@dataclasses.dataclass
class SegmentTable:
    """Every event of a view once, cut into segments (plus one padding event at index N).

    Attributes:
        items: int32 `[N + 1]`. Target items (0 at the padding event).
        inputs: int32 `[N + 1]`. The previous event of the segment's history (0 where it starts
            a user, `"history"`, or a session, `"session"`).
        score: bool `[N + 1]`. Scored targets.
        segment_start: bool `[N + 1]`. The event starts a segment (`True` at the padding event).
        user: int32 `[N + 1]`. The event's user index.
        user_ptr: int64 `[G + 1]`. Events of segment g are `user_ptr[g]:user_ptr[g+1]` (the name
            the queue batcher reads: its "users" are our segments).
        users: int32 `[G]`. The user of each segment.
        segments: str. `"history"` or `"session"`.
        max_len: int or `None`. The longest segment allowed (`"history"`: T).
    """

    items: np.ndarray
    inputs: np.ndarray
    score: np.ndarray
    segment_start: np.ndarray
    user: np.ndarray
    user_ptr: np.ndarray
    users: np.ndarray
    segments: str
    max_len: int | None

    @classmethod
    def from_view(cls, view, segments, max_len=None):
        """Build the table from an `EventView`.

        Args:
            view: `EventView` (events grouped by user, in time order).
            segments: str. `"history"` (a user's history cut every `max_len` events) or
                `"session"` (one session per segment).
            max_len: int. T of `"history"`; ignored for `"session"`. Defaults to `None`.

        Returns:
            `SegmentTable`.
        """
        if segments not in SEGMENTS:
            raise ValueError(f"segments must be one of {SEGMENTS}, got {segments!r}")
        if segments == "history" and (max_len is None or max_len < 1):
            raise ValueError(f"history segments need max_len ≥ 1, got {max_len!r}")
        n = len(view)
        start, reset_input = _starts(view, segments, max_len)
        inputs = np.zeros(n + 1, np.int32)
        if n > 1:
            inputs[1:n] = view.item[:-1]
        inputs[:n][reset_input] = 0
        first = np.flatnonzero(start)
        return cls(
            items=np.append(view.item, 0).astype(np.int32),
            inputs=inputs,
            score=np.append(view.score, False).astype(bool),
            segment_start=np.append(start, True),
            user=np.append(view.user, 0).astype(np.int32),
            user_ptr=np.append(first, n).astype(np.int64),
            users=view.user[first].astype(np.int32),
            segments=segments,
            max_len=None if segments == "session" else int(max_len),
        )

    @property
    def n_units(self):
        """Real events; event `n_units` is the padding event."""
        return len(self.items) - 1

    def events_of(self, index):
        """The view index of every cell of the batch for event indices `index` (as `gather`).

        Returns:
            int64 `[B, T]`: `index` itself (every event is its own unit), -1 where padded.
        """
        return np.where(index < 0, -1, index).astype(np.int64)

    def gather(self, index):
        """The batch for event indices `index` (`[B, T]`, -1 = padding).

        Returns:
            dict of NumPy arrays, all `[B, T]`: `items`, `inputs`, `mask`, `score`,
            `segment_start`, `user`.
        """
        rows = np.where(index < 0, self.n_units, index)
        return gather_rows(self, rows, ("score", "segment_start", "user"))


def packed_batcher(table, batch_size, steps, *, shuffle=False, seed=0):
    """A `QueueBatcher` laying `table`'s segments end to end in `batch_size` rows of `steps`.

    History segments (the flat TCN) are aligned: none crosses a row. Session segments
    (GRU4Rec) run on into the next batch of their row.

    Args:
        table: `SegmentTable`.
        batch_size: int. B.
        steps: int. T.
        shuffle: bool. Shuffle the segment order every epoch. Defaults to `False`.
        seed: int. Defaults to 0.

    Returns:
        `QueueBatcher` whose batches are `SegmentTable.gather` dicts `[B, T]`.
    """
    align = table.segments == "history"
    if align and table.max_len > steps:
        raise ValueError(f"history segments of up to {table.max_len} events do not fit rows of {steps} steps")
    return QueueBatcher(table, batch_size, steps, shuffle=shuffle, seed=seed, align=align)
