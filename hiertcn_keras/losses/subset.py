"""The k largest of a vector of integer keys, found without sorting: a random subset of fixed size.

In-batch negatives take at most k of a batch's scored targets, a uniformly random subset when
there are more (`hiertcn_keras.models.recommender`): every scored position gets a random integer
key, every other position the key −1, and the candidates are the positions of the k largest
keys. `ops.top_k` computes exactly that, but with a sort in the training step XLA (TensorFlow
2.21, CPU) compiled the dropout masks' random-number generation into a form several times
slower: a packed HierTCN step at batch 64 with the default candidates cost 898 ms of CPU with
the `top_k` pick and 292 ms with this one, in one run (docs/scale.md, "The step with the
default candidates"). `largest_keys` gets the same set from counts alone:

1. the k-th largest key τ by bisection over the key range (one count `Σ keys ≥ mid` per bit,
   31 counts over the vector: O(31·P), no sort);
2. every key above τ, then the keys equal to τ in position order until there are k (`top_k`
   breaks ties the same way, lower position first);
3. the chosen positions compacted into k slots in position order (a running count and one
   scatter), the slots left over marked invalid.

Keys below 0 are never chosen, so with fewer than k keys ≥ 0 all of them are chosen.
"""

from __future__ import annotations

from keras import ops

#: Keys are drawn in `[0, KEY_RANGE)`: a power of two, so that the bisection is exact in 30 steps,
#: and small enough that `lo + hi` never overflows int32.
KEY_RANGE = 2**30
_STEPS = 30


def largest_keys(keys, k):
    """The positions of the k largest keys ≥ 0, in position order.

    Args:
        keys: int32 tensor `[P]` with values in `[-1, KEY_RANGE)`; a key below 0 is never chosen.
        k: int. The number of slots (static).

    Returns:
        `(index, valid)`: int32 `[k]` positions into `keys` and bool `[k]`, true for the first
        min(k, number of keys ≥ 0) slots; an invalid slot's index is 0.

    Example: keys `[5, -1, 7, 5, 2]`, k = 2 → index `[0, 2]` (7, then the first 5), valid
    `[True, True]`; k = 6 → index `[0, 2, 3, 4, 0, 0]`, valid `[T, T, T, T, F, F]`.
    """
    keys = ops.cast(keys, "int32")
    # Bisection: count(keys ≥ lo) ≥ k is kept true (or lo stays 0), count(keys ≥ hi) < k.
    lo = ops.zeros((), "int32")
    hi = ops.full((), KEY_RANGE, "int32")
    for _ in range(_STEPS):
        mid = (lo + hi) // 2
        enough = ops.sum(ops.cast(keys >= mid, "int32")) >= k
        lo = ops.where(enough, mid, lo)
        hi = ops.where(enough, hi, mid)
    above = keys > lo
    tied = ops.logical_and(keys == lo, keys >= 0)
    room = k - ops.sum(ops.cast(above, "int32"))
    chosen = ops.logical_or(above, ops.logical_and(tied, ops.cumsum(ops.cast(tied, "int32")) <= room))
    # Compaction: the j-th chosen position goes to slot j - 1; the others to a dropped slot k.
    slot = ops.where(chosen, ops.cumsum(ops.cast(chosen, "int32")) - 1, k)
    positions = ops.arange(ops.shape(keys)[0], dtype="int32")
    index = ops.scatter(ops.expand_dims(slot, -1), ops.where(chosen, positions, 0), (k + 1,))[:k]
    count = ops.sum(ops.cast(chosen, "int32"))
    return ops.cast(index, "int32"), ops.arange(k, dtype="int32") < count
