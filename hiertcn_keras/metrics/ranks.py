"""Ranks of target items over the full catalogue, counted (never sorted) in NumPy.

Evaluation ranks every target against **every candidate item** (docs/concepts.md#ranks-and-ties: no
sampled candidates). A rank is 1-based and *counted*: rank = 1 + the number of candidates that beat
the target, which is O(n·C) and needs no sort. What "beat" means for an equal score is the tie
policy, and it is always explicit:

| policy          | rank                                                | note                     |
|-----------------|-----------------------------------------------------|--------------------------|
| `conservative`  | 1 + #{j ≠ t: s_j ≥ s_t}                             | ties count against us    |
| `optimistic`    | 1 + #{j: s_j > s_t}                                 | the official HierTCN code|
| `average`       | 1 + #{j: s_j > s_t} + #{j ≠ t: s_j = s_t} / 2       | float ranks              |

(j runs over the candidates only.) Worked example, one event, scores `[9, 5, 7, 7, 7]`, target
column 2 (score 7), candidates = columns 1..4 (column 0 is padding, never a candidate):
greater = 0 (column 0's 9 does not count), equal (besides the target) = 2 (columns 3, 4), so
conservative → 3, optimistic → 1, average → 2.0.

Nothing here is a Keras op: evaluation runs outside the graph on NumPy arrays, and
`inner_product_ranks` bounds its memory by a byte budget, so a 1M-item catalogue never needs an
[n × C] score matrix. No library counts full-catalogue ranks with explicit ties and a memory
bound (keras-rs's listwise metrics sort each list), hence this module.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.metrics.chunking import DEFAULT_MEMORY_BUDGET_BYTES, plan_chunks

TIE_POLICIES = ("conservative", "optimistic", "average")


def _check_tie_policy(tie_policy):
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"tie_policy must be one of {TIE_POLICIES}, got {tie_policy!r}")


def candidate_mask(candidates, n_items):
    """Normalises a candidate specification to a boolean mask, or `None` for "all items".

    Args:
        candidates: `None` (every column is a candidate), a `slice` or `range` of item indices,
            a boolean array [n_items], or an integer array of candidate item ids.
        n_items: int. C, the number of columns (item indices 0..C-1).

    Returns:
        `None` or a boolean `np.ndarray` [n_items].
    """
    if candidates is None:
        return None
    if isinstance(candidates, (slice, range)):
        mask = np.zeros(n_items, dtype=bool)
        sl = candidates if isinstance(candidates, slice) else slice(
            candidates.start, candidates.stop, candidates.step
        )
        mask[sl] = True
        return mask
    arr = np.asarray(candidates)
    if arr.dtype == bool:
        if arr.shape != (n_items,):
            raise ValueError(
                f"a boolean candidates mask must have shape ({n_items},), got {arr.shape}"
            )
        return arr
    if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() >= n_items):
            raise ValueError(
                f"candidate ids must lie in [0, {n_items}), got min {arr.min()}, max {arr.max()}"
            )
        mask = np.zeros(n_items, dtype=bool)
        mask[arr] = True
        return mask
    raise ValueError(
        "candidates must be None, a slice, a range, a boolean mask or an integer id array, "
        f"got {type(candidates).__name__} with dtype {arr.dtype} and shape {arr.shape}"
    )


def _check_targets(targets, n_rows, n_items, mask):
    targets = np.asarray(targets)
    if targets.ndim != 1 or targets.shape[0] != n_rows:
        raise ValueError(f"targets must have shape ({n_rows},), got {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"targets must be integer item ids, got dtype {targets.dtype}")
    targets = targets.astype(np.int64, copy=False)
    if n_rows and (targets.min() < 0 or targets.max() >= n_items):
        raise ValueError(
            f"targets must lie in [0, {n_items}), got min {targets.min()}, max {targets.max()}"
        )
    if mask is not None and n_rows:
        bad = np.flatnonzero(~mask[targets])
        if bad.size:
            raise ValueError(
                f"{bad.size} target(s) are not candidates (e.g. event {bad[0]}, item "
                f"{targets[bad[0]]}); filter events whose target is not in the catalogue "
                "before ranking and report their count"
            )
    return targets


def ranks_from_counts(greater, equal, tie_policy="conservative"):
    """Turns counts of candidates beating / tying the target into 1-based ranks.

    Args:
        greater: int array [n]. #{candidates j: s_j > s_t}.
        equal: int array [n]. #{candidates j ≠ t: s_j = s_t} (the target itself excluded).
        tie_policy: str. `"conservative"`, `"optimistic"` or `"average"`. Defaults to
            `"conservative"`.

    Returns:
        Ranks [n]: int64 for `conservative`/`optimistic`, float64 for `average`.
    """
    _check_tie_policy(tie_policy)
    greater = np.asarray(greater, dtype=np.int64)
    equal = np.asarray(equal, dtype=np.int64)
    if tie_policy == "conservative":
        return 1 + greater + equal
    if tie_policy == "optimistic":
        return 1 + greater
    return 1.0 + greater + equal / 2.0


def _count_block(scores, target_scores, mask):
    """#{s_j > s_t} and #{s_j == s_t} per row of a score block, over the masked columns."""
    t = target_scores[:, None]
    gt = scores > t
    if mask is not None:
        gt &= mask
    greater = np.count_nonzero(gt, axis=1)
    del gt
    eq = scores == t
    if mask is not None:
        eq &= mask
    equal = np.count_nonzero(eq, axis=1)
    return greater, equal


def count_ranks(scores, targets, tie_policy="conservative", candidates=None):
    """1-based rank of each target among the candidate columns of a score matrix.

    Ranks are counted, never sorted (O(n·C)); see the module docstring for the tie policies.

    Args:
        scores: float array [n, C]. Column j is item j's score.
        targets: int array [n]. The target item of each row; must be a candidate.
        tie_policy: str. `"conservative"` (ties count against the model; what we report),
            `"optimistic"` (the official code's strict count) or `"average"`. Defaults to
            `"conservative"`.
        candidates: which columns are ranked against: `None` (all), a `slice`/`range`, a boolean
            mask [C] or an integer id array. Defaults to `None`.

    Returns:
        Ranks [n]: int64 (`conservative`, `optimistic`) or float64 (`average`).

    Raises:
        ValueError: on NaN scores, bad shapes, targets out of range or not candidates.

    Example:

    >>> count_ranks(np.array([[9., 5., 7., 7., 7.]]), np.array([2]), candidates=slice(1, None))
    array([3])
    """
    _check_tie_policy(tie_policy)
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must have shape [n, C], got {scores.shape}")
    n, n_items = scores.shape
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; ranks would be undefined")
    mask = candidate_mask(candidates, n_items)
    targets = _check_targets(targets, n, n_items, mask)
    greater = np.empty(n, dtype=np.int64)
    equal = np.empty(n, dtype=np.int64)
    # Row blocks keep the boolean temporaries at ~16M cells whatever n is.
    rows = max(1, (1 << 24) // max(n_items, 1))
    for r0 in range(0, n, rows):
        block = scores[r0 : r0 + rows]
        t = block[np.arange(block.shape[0]), targets[r0 : r0 + rows]]
        greater[r0 : r0 + rows], equal[r0 : r0 + rows] = _count_block(block, t, mask)
    # The target is a candidate and equals itself: take it out of the tie count.
    return ranks_from_counts(greater, equal - 1, tie_policy)


def inner_product_ranks(queries, items, targets, item_bias=None, candidates=None,
                        tie_policy="conservative", chunk_size=None,
                        memory_budget_bytes=DEFAULT_MEMORY_BUDGET_BYTES):
    """Ranks of targets under inner-product scores `s = q · item + bias`, in bounded memory.

    Equivalent to `count_ranks(queries @ items.T + item_bias, targets, ...)` but never holds the
    [n × C] matrix: the catalogue (and the queries) are scored in chunks sized by
    `plan_chunks` to fit `memory_budget_bytes`. All math is float32.

    Float sums are not associative, and a BLAS matmul may round the same dot product
    differently for differently shaped calls. So the target's own score is never recomputed
    another way: queries are grouped by the item chunk holding their target, that chunk is
    scored first and the target scores are read from it — the very values the other items of
    that chunk are compared with — and the target's own cell is taken out of the tie count
    explicitly. Other chunks are scored with the same query rows.

    Args:
        queries: float array [n, D]. User embeddings.
        items: float array [C, D]. Item embeddings (a `np.memmap` works: it is read chunk by
            chunk).
        targets: int array [n]. Target item per query; must be a candidate.
        item_bias: float array [C] or `None`. Added to every item's score. Defaults to `None`.
        candidates: `None`, `slice`/`range`, boolean mask [C] or integer id array; see
            `count_ranks`. Defaults to `None` (all items).
        tie_policy: str. See `count_ranks`. Defaults to `"conservative"`.
        chunk_size: int or `None`. Items per chunk; `None` lets the budget decide.
        memory_budget_bytes: int. Bound on the working memory of one chunk step. Defaults to
            256 MiB.

    Returns:
        Ranks [n]: int64 (`conservative`, `optimistic`) or float64 (`average`).

    Raises:
        ValueError: on NaN scores, bad shapes, targets out of range or not candidates, or a
            budget too small for one query against one item.
    """
    _check_tie_policy(tie_policy)
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim != 2:
        raise ValueError(f"queries must have shape [n, D], got {queries.shape}")
    if getattr(items, "ndim", None) != 2:
        items = np.asarray(items)
    if items.ndim != 2 or items.shape[1] != queries.shape[1]:
        raise ValueError(
            f"items must have shape [C, {queries.shape[1]}] to match queries {queries.shape}, "
            f"got {items.shape}"
        )
    n, dim = queries.shape
    n_items = items.shape[0]
    if item_bias is not None:
        item_bias = np.asarray(item_bias, dtype=np.float32)
        if item_bias.shape != (n_items,):
            raise ValueError(f"item_bias must have shape ({n_items},), got {item_bias.shape}")
    mask = candidate_mask(candidates, n_items)
    targets = _check_targets(targets, n, n_items, mask)
    plan = plan_chunks(n, n_items, dim, memory_budget_bytes, chunk_size)
    qc, ic = plan.query_chunk, plan.item_chunk
    starts = list(range(0, n_items, ic))
    # Chunks without a single candidate (e.g. outside a candidate slice) are never scored.
    live = [mask is None or bool(mask[a : a + ic].any()) for a in starts]

    def score(rows, start):
        stop = min(start + ic, n_items)
        block = np.asarray(items[start:stop], dtype=np.float32)
        s = rows @ block.T
        if item_bias is not None:
            s += item_bias[start:stop]
        if np.isnan(s).any():
            raise ValueError(f"NaN scores for items [{start}, {stop}); ranks would be undefined")
        return s, (None if mask is None else mask[start:stop])

    greater = np.zeros(n, dtype=np.int64)
    equal = np.zeros(n, dtype=np.int64)
    # Group the queries by the item chunk that holds their target (stable, so deterministic).
    order = np.argsort(targets // ic, kind="stable")
    target_chunk = targets[order] // ic
    bounds = np.flatnonzero(np.diff(target_chunk)) + 1
    for group in np.split(order, bounds) if n else []:
        home = int(targets[group[0]] // ic)
        for g0 in range(0, group.size, qc):
            idx = group[g0 : g0 + qc]
            rows = queries[idx]
            s, m = score(rows, starts[home])
            local = targets[idx] - starts[home]
            t = s[np.arange(idx.size), local]
            g, e = _count_block(s, t, m)
            del s
            # The target's own cell is in this block and equals t exactly: untie it.
            total_g, total_e = g, e - 1
            for k, start in enumerate(starts):
                if k == home or not live[k]:
                    continue
                s, m = score(rows, start)
                g, e = _count_block(s, t, m)
                del s
                total_g += g
                total_e += e
            greater[idx] = total_g
            equal[idx] = total_e
    return ranks_from_counts(greater, equal, tie_policy)
