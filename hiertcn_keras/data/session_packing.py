"""Hierarchical training batches without the padding of the session slots: sessions end to end.

Shape legend: B batch rows (queues), S session slots, L steps per session, T packed steps per
row (the batch's own, see below), N sessions of the view.

The queue batcher gives every row of a batch S session slots of L steps (`SessionTable.gather`,
`[B, S, L]`). On logs whose sessions have a median of 2 clicks nearly all of those B·S·L
positions are padding (87% on the Globo.com-shaped log of docs/scale.md). `PackedSessionTable`
gathers the same queue plan, but lays the S sessions of each row end to end in one row of T
steps:

- `items`, `inputs`, `mask`, `score`: the events, as `SessionTable.gather` has them (inputs
  `[0, a1..a(n-1)]` within each session), session after session;
- `segment_start`: `True` at every session's first event (the TCN cuts its receptive field
  there, `TemporalBlock(segments=...)`);
- `slot`: the session slot `0..S-1` of every event (0 where padded; `mask` says which);
- `session_mask`, `user_start`, `gap`, `user` `[B, S]`: unchanged (the session GRU's inputs).

T is the batch's longest row rounded up to a step of `ROW_BUCKETS` (capped at S·L, the padded
layout's width), so a training run sees a handful of shapes, and XLA compiles once per shape.
Worked example, S = 3, one row with sessions of 2, 1 and 3 events (a, b, c):

    items:          a1 a2 b1 c1 c2 c3 0  0      (T = 8, the smallest bucket ≥ 6)
    inputs:         0  a1 0  0  c1 c2 0  0
    segment_start:  T  F  T  T  F  F  T  T
    slot:           0  0  1  2  2  2  0  0
    mask:           T  T  T  T  T  T  F  F

Every event keeps its target, its input, its session and its row, so a model that reads it
(`hiertcn_keras.models.packed_hiertcn`) computes exactly the scores of the padded layout.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.data.tensors import SessionTable

#: The row widths T a packed batch takes: the smallest one that holds the batch's longest row.
#: Steps of about 1.5×: every new width costs an XLA compilation, a finer ladder saves little
#: padding (docs/scale.md: on the Globo.com-shaped log at B = 64, 3 widths and 49.6% padding
#: against 5 widths and 45.6% with steps of 8, and 87.6% in the padded layout).
ROW_BUCKETS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def row_width(longest, cap):
    """T for a batch whose longest row holds `longest` events: a `ROW_BUCKETS` step, at most `cap`.

    Args:
        longest: int. Events in the batch's longest row.
        cap: int. S·L, the width of the padded layout (no row can hold more).

    Returns:
        int T with `longest ≤ T ≤ max(cap, longest)`.
    """
    for width in ROW_BUCKETS:
        if width >= longest:
            return max(min(width, cap), longest)
    step = ROW_BUCKETS[-1]
    return max(min(-(-longest // step) * step, cap), longest)


class PackedSessionTable:
    """A `SessionTable` whose batches lay the sessions of each row end to end.

    The queue batcher reads it as it reads the `SessionTable` (same users, same units, same
    plan); only `gather` differs.

    Args:
        sessions: `SessionTable`.
        slots: int. S, the session slots per batch row (the batcher's `units_per_batch`).

    Example:

    >>> table = PackedSessionTable(SessionTable.from_view(view, 20), slots=10)  # doctest: +SKIP
    >>> batcher = QueueBatcher(table, batch_size=64, units_per_batch=10, shuffle=True)
    """

    def __init__(self, sessions, slots):
        if not isinstance(sessions, SessionTable):
            raise TypeError(f"PackedSessionTable needs a SessionTable, got {type(sessions).__name__}")
        if slots < 1:
            raise ValueError(f"slots must be ≥ 1, got {slots}")
        self.sessions = sessions
        self.slots = int(slots)
        self.length = (sessions.items > 0).sum(axis=1).astype(np.int64)  # [N + 1], 0 at the padding row

    @property
    def users(self):
        return self.sessions.users

    @property
    def user_ptr(self):
        return self.sessions.user_ptr

    @property
    def n_units(self):
        return self.sessions.n_units

    @property
    def max_len(self):
        """L of the sessions."""
        return self.sessions.max_len

    def gather(self, index):
        """The packed batch for session indices `index` (`[B, S]`, -1 = padding).

        Returns:
            dict of NumPy arrays: `items`, `inputs`, `mask`, `score`, `segment_start`, `slot`
            `[B, T]`; `session_mask`, `user_start`, `gap`, `user` `[B, S]`.
        """
        table = self.sessions
        rows = np.where(index < 0, table.n_units, index)
        batch, slots = rows.shape
        lengths = self.length[rows]  # [B, S]
        per_row = lengths.sum(axis=1)
        width = row_width(int(per_row.max()) if batch else 0, slots * table.max_len)
        flat_len = lengths.ravel()
        n = int(flat_len.sum())
        slot_of = np.repeat(np.arange(batch * slots), flat_len)  # [n] flat slot b·S + s of each event
        first = np.cumsum(flat_len) - flat_len  # first event of each flat slot, in event order
        pos = np.arange(n) - np.repeat(first, flat_len)  # position within its session
        row_of = slot_of // slots
        row_first = np.cumsum(per_row) - per_row
        col = np.arange(n) - row_first[row_of]  # position within its packed row
        session_row = rows.ravel()[slot_of]
        items = np.zeros((batch, width), np.int32)
        inputs = np.zeros((batch, width), np.int32)
        score = np.zeros((batch, width), bool)
        segment_start = np.ones((batch, width), bool)
        slot = np.zeros((batch, width), np.int32)
        items[row_of, col] = table.items[session_row, pos]
        previous = table.items[session_row, np.maximum(pos - 1, 0)]
        inputs[row_of, col] = np.where(pos > 0, previous, 0)
        score[row_of, col] = table.score[session_row, pos]
        segment_start[row_of, col] = pos == 0
        slot[row_of, col] = slot_of % slots
        return {
            "items": items,
            "inputs": inputs,
            "mask": items > 0,
            "score": score,
            "segment_start": segment_start,
            "slot": slot,
            "session_mask": lengths > 0,
            "user_start": table.user_start[rows],
            "gap": table.gap[rows],
            "user": table.user[rows],
        }

    def element_spec(self, batch_size, units_per_batch):
        """Shapes and dtypes of a batch, T unknown (`None`): dict name → `(shape, numpy dtype)`."""
        sample = self.gather(np.full((batch_size, units_per_batch), -1))
        return {key: ((batch_size, None) if key in PACKED_KEYS else value.shape, value.dtype)
                for key, value in sample.items()}


#: The keys of a packed batch whose second axis is T (the others are `[B, S]`).
PACKED_KEYS = ("items", "inputs", "mask", "score", "segment_start", "slot")


def padded_table(table):
    """The `[B, S, L]` table behind `table`: its `SessionTable` if packed, else `table` itself.

    For readers that need every batch of one shape, e.g. the per-replica blocks of a
    distributed run (`hiertcn_keras.training.distribute`), which train on the padded layout.
    """
    return table.sessions if isinstance(table, PackedSessionTable) else table
