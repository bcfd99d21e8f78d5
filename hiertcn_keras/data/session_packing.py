"""Hierarchical training batches without the padding of the session slots: sessions end to end.

Shape legend: B batch rows (queues), S session slots, L steps per session, T packed steps per
row (the batch's own, see below), N sessions of the view.

The queue batcher gives every row of a batch S session slots of L steps (`SessionTable.gather`,
`[B, S, L]`). On logs whose sessions have a median of 2 clicks nearly all of those B·S·L
positions are padding (87.6% on the Globo.com-shaped log of docs/scale.md). `PackedSessionTable`
gathers the same queue plan, but lays the batch's sessions end to end in B rows of T steps:

- `items`, `inputs`, `mask`, `score`: the events, as `SessionTable.gather` has them (inputs
  `[0, a1..a(n-1)]` within each session), session after session;
- `segment_start`: `True` at every session's first event (the TCN cuts its receptive field
  there, `TemporalBlock(segments=...)`);
- `slot`: the session slot of every event, numbered across the batch: `b·S + s` for slot s of
  queue row b (0 where padded; `mask` says which);
- `session_mask`, `user_start`, `gap`, `user` `[B, S]`: unchanged (the session GRU's inputs,
  one row per queue, the state carried from batch to batch as before).

A session is never split, but it need not sit in its queue's row: the events only meet the
queues through `slot`. The sessions are spread over the B rows longest first, each into the
row that is emptiest so far, so every row holds about the batch's mean (packing each queue's
own sessions in its row would leave 41% of the positions empty at B = 64, from the spread of
the queues' lengths). T is the fullest row rounded up to a step of `ROW_BUCKETS` (capped at
S·L where that still holds it), so a training run sees a handful of shapes and XLA compiles
once per shape. Worked example, B = 2, S = 2, L = 4: queue row 0 holds sessions a (3 events)
and b (1 event), queue row 1 session c (2 events) and an empty slot. Longest first: a → row 0,
c → row 1, b → row 1 (the emptier); within a row, sessions keep their slot order:

    items:          a1 a2 a3 0  0  0  0  0  |  b1 c1 c2 0  0  0  0  0     (T = S·L = 8)
    inputs:         0  a1 a2 0  0  0  0  0  |  0  0  c1 0  0  0  0  0
    segment_start:  T  F  F  T  T  T  T  T  |  T  T  F  T  T  T  T  T
    slot:           0  0  0  0  0  0  0  0  |  1  2  2  0  0  0  0  0
    mask:           T  T  T  F  F  F  F  F  |  T  T  T  F  F  F  F  F

Every event keeps its target, its input and its session, so a model that reads it
(`hiertcn_keras.models.packed_hiertcn`) computes exactly the scores of the padded layout.
"""

from __future__ import annotations

import heapq

import numpy as np

from hiertcn_keras.data.tensors import SessionTable

#: The row widths T a packed batch takes: the smallest one that holds the batch's longest row.
#: Steps of about 1.5× from 32 up, since every new width costs an XLA compilation (and makes the
#: first steps' time, from which `train` estimates the epoch, include one): on the Globo.com-shaped
#: log of docs/scale.md every batch of an epoch at B = 16, 32 or 64 is 32 wide (one compilation;
#: 22% of the positions are padding, against 87.5% in the `[B, S, L]` layout, and 16-20% with a
#: 24 step as well, which takes a second compilation).
ROW_BUCKETS = (32, 48, 64, 96, 128, 192, 256, 384, 512)


def row_width(longest, cap):
    """T for a batch whose longest row holds `longest` events: a `ROW_BUCKETS` step, at most `cap`.

    Args:
        longest: int. Events in the batch's longest row.
        cap: int. S·L, the width of the padded layout: T stays at most that wide unless the
            fullest row itself is wider.

    Returns:
        int T with `longest ≤ T ≤ max(cap, longest)`.
    """
    for width in ROW_BUCKETS:
        if width >= longest:
            return max(min(width, cap), longest)
    step = ROW_BUCKETS[-1]
    return max(min(-(-longest // step) * step, cap), longest)


class PackedSessionTable:
    """A `SessionTable` whose batches lay the batch's sessions end to end, spread over the rows.

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

    def _layout(self, index):
        """Where every event of the batch goes: `(rows, slot_of, pos, row_of, col, width)`.

        `slot_of` is each event's flat slot `b·S + s`, `pos` its position in its session,
        `(row_of, col)` its packed cell; `rows` the session rows of `index` (padding mapped).
        """
        table = self.sessions
        rows = np.where(index < 0, table.n_units, index)
        batch, slots = rows.shape
        flat_len = self.length[rows].ravel()  # [B·S]
        real = np.flatnonzero(flat_len)
        packed_row, offset, fill = _spread(flat_len[real], batch)
        width = row_width(int(fill.max()) if batch else 0, slots * table.max_len)
        lengths = flat_len[real]
        n = int(lengths.sum())
        first = np.cumsum(lengths) - lengths
        pos = np.arange(n) - np.repeat(first, lengths)
        slot_of = np.repeat(real, lengths)
        row_of = np.repeat(packed_row, lengths)
        col = np.repeat(offset, lengths) + pos
        return rows, slot_of, pos, row_of, col, width

    def gather(self, index):
        """The packed batch for session indices `index` (`[B, S]`, -1 = padding).

        Returns:
            dict of NumPy arrays: `items`, `inputs`, `mask`, `score`, `segment_start`, `slot`
            `[B, T]`; `session_mask`, `user_start`, `gap`, `user` `[B, S]`.
        """
        table = self.sessions
        rows, slot_of, pos, row_of, col, width = self._layout(index)
        batch, slots = rows.shape
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
        slot[row_of, col] = slot_of
        return {
            "items": items,
            "inputs": inputs,
            "mask": items > 0,
            "score": score,
            "segment_start": segment_start,
            "slot": slot,
            "session_mask": self.length[rows] > 0,
            "user_start": table.user_start[rows],
            "gap": table.gap[rows],
            "user": table.user[rows],
        }

    def width_of(self, index):
        """T of the packed batch for session indices `index` (`[B, S]`), without building it."""
        return self._layout(index)[-1]

    def events_of(self, index):
        """The view index of every cell of the packed batch for `index` (as `gather`).

        Returns:
            int64 `[B, T]`; -1 where padded.
        """
        rows, slot_of, pos, row_of, col, width = self._layout(index)
        if self.sessions.event is None:
            raise ValueError("this table was built without event indices (use SessionTable.from_view)")
        event = np.full((rows.shape[0], width), -1, np.int64)
        event[row_of, col] = self.sessions.event[rows.ravel()[slot_of], pos]
        return event

    def element_spec(self, batch_size, units_per_batch):
        """Shapes and dtypes of a batch, T unknown (`None`): dict name → `(shape, numpy dtype)`."""
        sample = self.gather(np.full((batch_size, units_per_batch), -1))
        return {key: ((batch_size, None) if key in PACKED_KEYS else value.shape, value.dtype)
                for key, value in sample.items()}


#: The keys of a packed batch whose second axis is T (the others are `[B, S]`).
PACKED_KEYS = ("items", "inputs", "mask", "score", "segment_start", "slot")


def _spread(lengths, n_rows):
    """Sessions into rows, longest first, each into the emptiest row (ties: the lowest row).

    Args:
        lengths: int array `[G]`, events per session (in slot order).
        n_rows: int. B.

    Returns:
        `(row, offset, fill)`: int64 `[G]` each session's row and first column, and int64
        `[B]` the events per row. Within a row, sessions keep their slot order.
    """
    row = np.zeros(len(lengths), np.int64)
    fill = np.zeros(n_rows, np.int64)
    heap = [(0, r) for r in range(n_rows)]
    for k in np.argsort(-lengths, kind="stable").tolist():
        total, r = heapq.heappop(heap)
        row[k] = r
        heapq.heappush(heap, (total + int(lengths[k]), r))
    for total, r in heap:
        fill[r] = total
    # Offsets in slot order within each row: a stable sort by row, then a running sum per row.
    order = np.argsort(row, kind="stable")
    ends = np.cumsum(lengths[order])
    row_start = np.cumsum(fill) - fill
    offset = np.empty(len(lengths), np.int64)
    offset[order] = ends - lengths[order] - row_start[row[order]]
    return row, offset, fill


def padded_table(table):
    """The `[B, S, L]` table behind `table`: its `SessionTable` if packed, else `table` itself.

    For readers that need every batch of one shape, e.g. the per-replica blocks of a
    distributed run (`hiertcn_keras.training.distribute`), which train on the padded layout.
    """
    return table.sessions if isinstance(table, PackedSessionTable) else table
