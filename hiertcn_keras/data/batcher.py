"""The queue-based mini-batch generator of HierTCN (docs/concepts.md#queue-based-mini-batches).

B queues, one per batch row. Users, in a seeded shuffled order (or in index order for
evaluation), go *whole* into the currently shortest queue (ties: the lowest queue number).
Batch b takes units `b·U .. b·U + U − 1` of every queue, where a unit is a session (U = S
session slots, hierarchical models) or a chunk of a flat history (U = 1, flat models). A
user's units therefore stay in one row, in order, and may straddle batches; the model carries
each row's state from batch to batch and resets it where `user_start` is set. The epoch ends
when the longest queue is empty: shorter rows are padded (unit index -1), nothing is dropped.

Worked example: B = 2, U = 2, users with 3, 1 and 2 sessions in that order:

    queue 0: user0 s0 s1 s2               → batch 0 row 0: [u0s0 u0s1]   batch 1 row 0: [u0s2 pad]
    queue 1: user1 s0, user2 s0 s1        → batch 0 row 1: [u1s0 u2s0]   batch 1 row 1: [u2s1 pad]
    user_start:                              [T F] / [T T]                 [F F] / [F F]

With `align=True` a user never straddles two batches: when its units do not fit in what is
left of the current batch of its queue, that row is padded to the next batch first (the
packed flat TCN, whose rows carry no state, lays segments end to end this way; see
`hiertcn_keras.data.packing`).
"""

from __future__ import annotations

import heapq

import numpy as np


def assign_queues(lengths, n_queues):
    """Put every user whole into the shortest queue, in the given order.

    Args:
        lengths: int array `[U]`. Units per user, in arrival order.
        n_queues: int. B.

    Returns:
        list of `n_queues` int arrays: the positions (into `lengths`) of each queue's users.
    """
    if n_queues < 1:
        raise ValueError(f"batch size (number of queues) must be ≥ 1, got {n_queues}")
    heap = [(0, q) for q in range(n_queues)]
    owner = np.empty(len(lengths), dtype=np.int64)
    for k, length in enumerate(np.asarray(lengths).tolist()):
        total, q = heapq.heappop(heap)
        owner[k] = q
        heapq.heappush(heap, (total + length, q))
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=n_queues)
    return np.split(order, np.cumsum(counts)[:-1])


def assign_aligned(lengths, n_queues, window):
    """`assign_queues` where a user never straddles two windows of `window` units.

    Each user goes whole into the queue that is shortest counting padding; if it does not fit
    in what is left of that queue's current window, the queue is padded to the next window.

    Args:
        lengths: int array `[U]`. Units per user (each ≤ `window`), in arrival order.
        n_queues: int. B.
        window: int. Units per batch row.

    Returns:
        `(owner, offset)`: int64 arrays `[U]`, each user's queue and its first position there.
    """
    if n_queues < 1:
        raise ValueError(f"batch size (number of queues) must be ≥ 1, got {n_queues}")
    lengths = np.asarray(lengths)
    if len(lengths) and int(lengths.max()) > window:
        raise ValueError(f"a user has {int(lengths.max())} units, more than the {window} of one batch row")
    heap = [(0, q) for q in range(n_queues)]
    owner = np.empty(len(lengths), dtype=np.int64)
    offset = np.empty(len(lengths), dtype=np.int64)
    for k, length in enumerate(lengths.tolist()):
        total, q = heapq.heappop(heap)
        if total % window + length > window:
            total += window - total % window
        owner[k], offset[k] = q, total
        heapq.heappush(heap, (total + length, q))
    return owner, offset


def _concat_ranges(starts, lengths):
    """`concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])`, vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


class QueueBatcher:
    """Fixed-shape batches from a `SessionTable` (U = S slots) or a `FlatTable` (U = 1).

    Args:
        table: `SessionTable` or `FlatTable`.
        batch_size: int. B, the number of queues (batch rows).
        units_per_batch: int. U: session slots S for a `SessionTable`, 1 for a `FlatTable`.
            Defaults to 10 (the official code's S).
        shuffle: bool. Shuffle the user order each epoch (training). Defaults to `False`.
        seed: int. Seed of the user-order shuffle; epoch e uses `seed + e`. Defaults to 0.
        align: bool. Never split a user between two batches (`assign_aligned`); every user
            must then have at most `units_per_batch` units. Defaults to `False`.

    Example:

    >>> batcher = QueueBatcher(table, batch_size=32, units_per_batch=10, shuffle=True)  # doctest: +SKIP
    >>> for batch in batcher.batches(epoch=0): ...
    """

    def __init__(self, table, batch_size, units_per_batch=10, *, shuffle=False, seed=0, align=False):
        if units_per_batch < 1:
            raise ValueError(f"units_per_batch must be ≥ 1, got {units_per_batch}")
        if hasattr(table, "session_start") and units_per_batch != 1:
            raise ValueError(f"a FlatTable takes units_per_batch=1, got {units_per_batch}")
        self.table = table
        self.batch_size = int(batch_size)
        self.units_per_batch = int(units_per_batch)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.align = bool(align)

    def user_order(self, epoch=0):
        """Positions of the table's users in arrival order for this epoch."""
        n_users = len(self.table.users)
        if not self.shuffle:
            return np.arange(n_users)
        return np.random.default_rng(self.seed + epoch).permutation(n_users)

    def plan(self, epoch=0):
        """Unit indices of every batch: int64 `[n_batches, B, U]`, -1 where padded."""
        ptr = self.table.user_ptr
        order = self.user_order(epoch)
        lengths = (ptr[1:] - ptr[:-1])[order]
        if self.align:
            return self._aligned_plan(ptr[order], lengths)
        queues = assign_queues(lengths, self.batch_size)
        per_queue = [_concat_ranges(ptr[order[q]], lengths[q]) for q in queues]
        longest = max((len(units) for units in per_queue), default=0)
        n_batches = -(-longest // self.units_per_batch)
        plan = np.full((self.batch_size, n_batches * self.units_per_batch), -1, dtype=np.int64)
        for row, units in enumerate(per_queue):
            plan[row, : len(units)] = units
        return plan.reshape(self.batch_size, n_batches, self.units_per_batch).transpose(1, 0, 2)

    def _aligned_plan(self, starts, lengths):
        owner, offset = assign_aligned(lengths, self.batch_size, self.units_per_batch)
        end = int((offset + lengths).max()) if len(lengths) else 0
        n_batches = -(-end // self.units_per_batch)
        plan = np.full((self.batch_size, n_batches * self.units_per_batch), -1, dtype=np.int64)
        rows = np.repeat(owner, lengths)
        plan[rows, _concat_ranges(offset, lengths)] = _concat_ranges(starts, lengths)
        return plan.reshape(self.batch_size, n_batches, self.units_per_batch).transpose(1, 0, 2)

    def n_batches(self, epoch=0):
        return len(self.plan(epoch))

    def batches(self, epoch=0):
        """Yield the epoch's batches (dicts of NumPy arrays, see the table's `gather`)."""
        for index in self.plan(epoch):
            yield self.table.gather(index)

    def element_spec(self):
        """Shapes and dtypes of a batch: dict name → `(shape, numpy dtype)` (`None`: varies)."""
        if hasattr(self.table, "element_spec"):  # packed sessions: T varies from batch to batch
            return self.table.element_spec(self.batch_size, self.units_per_batch)
        sample = self.table.gather(np.full((self.batch_size, self.units_per_batch), -1))
        return {key: (value.shape, value.dtype) for key, value in sample.items()}
