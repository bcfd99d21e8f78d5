"""How `inner_product_ranks` splits n queries × C items into chunks that fit a memory budget.

One step scores a [query chunk × item chunk] block with a float32 matmul and counts it; its
working memory (`chunk_bytes`) is the block with its boolean comparison masks plus the float32
query and item rows. `plan_chunks` picks the sizes so one step stays within the budget, whatever
C is: a 1M-item catalogue is never held as an [n × C] matrix. `budget_from_memory` sizes that
budget from the memory available now: a share of it, clipped to a floor (every block costs a
Python loop iteration, so tiny ones are slow; `plan_chunks` still shrinks below it if one item
does not fit) and a ceiling (a machine with much free memory keeps most of it for other work).
"""

from __future__ import annotations

import dataclasses
import math

DEFAULT_MEMORY_BUDGET_BYTES = 256 * 2**20
# `budget_from_memory`: the share of the available memory one chunk step may take, and the
# floor and ceiling of the budget it gives.
MEMORY_SHARE = 0.25
MIN_MEMORY_BUDGET_BYTES = 16 * 2**20
MAX_MEMORY_BUDGET_BYTES = 1024 * 2**20

# Bytes a chunk costs per score cell: the float32 score plus the two boolean comparison masks
# (`>` and `==`) alive while it is counted, rounded up for the `&` with the candidate mask.
_BYTES_PER_SCORE = 8
# Bytes per item row besides its D float32 values: bias (4) and candidate flag (1), rounded up.
_BYTES_PER_ITEM_EXTRA = 8
# Bytes per query row besides its D float32 values: target score, counts, index bookkeeping.
_BYTES_PER_QUERY_EXTRA = 48


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    """How `inner_product_ranks` splits the work to fit its memory budget.

    Args:
        query_chunk: int. Queries scored per matmul.
        item_chunk: int. Catalogue items scored per matmul.
        peak_bytes: int. The estimated peak working memory of one chunk step (the score block,
            its comparison masks, the float32 item and query rows).
    """

    query_chunk: int
    item_chunk: int
    peak_bytes: int


def chunk_bytes(query_chunk, item_chunk, dim):
    """Estimated working memory of one [query_chunk × item_chunk] scoring step, in bytes."""
    return (
        query_chunk * item_chunk * _BYTES_PER_SCORE
        + item_chunk * (4 * dim + _BYTES_PER_ITEM_EXTRA)
        + query_chunk * (4 * dim + _BYTES_PER_QUERY_EXTRA)
    )


def budget_from_memory(available_bytes, share=MEMORY_SHARE, floor=MIN_MEMORY_BUDGET_BYTES,
                       ceiling=MAX_MEMORY_BUDGET_BYTES):
    """The working-memory budget of one chunk step, from the memory available now.

    Args:
        available_bytes: int or `None`. Memory a new allocation can take (the caller reads it,
            e.g. with psutil); `None` (unknown) gives `DEFAULT_MEMORY_BUDGET_BYTES`.
        share: float in (0, 1]. Part of it a step may take. Defaults to 0.25.
        floor: int. Smallest budget. Defaults to 16 MiB.
        ceiling: int. Largest budget. Defaults to 1 GiB.

    Returns:
        int bytes in `[floor, ceiling]`, for `plan_chunks(..., memory_budget_bytes=...)`.

    Example: 8 GiB available → 1 GiB (the ceiling); 512 MiB → 128 MiB; 20 MiB → 16 MiB.
    """
    if not 0 < share <= 1 or not 0 < floor <= ceiling:
        raise ValueError(f"need 0 < share ≤ 1 and 0 < floor ≤ ceiling, got {share}, {floor}, {ceiling}")
    if available_bytes is None:
        return int(min(max(DEFAULT_MEMORY_BUDGET_BYTES, floor), ceiling))
    return int(min(max(int(share * max(int(available_bytes), 0)), floor), ceiling))


def plan_chunks(n_queries, n_items, dim, memory_budget_bytes=DEFAULT_MEMORY_BUDGET_BYTES,
                chunk_size=None, max_query_chunk=4096):
    """Chooses query and item chunk sizes whose working memory fits the budget.

    `inner_product_ranks` scores the queries grouped by the item chunk holding their target, so
    a group has about n·c/C queries for item chunks of c items: a matmul's rows are
    min(query chunk, group size). The two are balanced, q ≈ c·n/C with q·c·8 bytes ≈ budget,
    i.e. q = sqrt(n·budget / (8·C)), capped by `max_query_chunk` and n; the items take what the
    budget leaves. When even one item does not fit, the query chunk shrinks. A fixed
    `chunk_size` fixes the item chunk and sizes only the query chunk.

    Args:
        n_queries: int. n.
        n_items: int. C.
        dim: int. D.
        memory_budget_bytes: int. Upper bound on one step's working memory. Defaults to 256 MiB.
        chunk_size: int or `None`. Items per chunk; `None` lets the budget decide.
        max_query_chunk: int. Cap on queries per chunk. Defaults to 4096.

    Returns:
        A `ChunkPlan`.

    Raises:
        ValueError: if not even one query against one item (or against `chunk_size` items)
            fits the budget.
    """
    if memory_budget_bytes <= 0:
        raise ValueError(f"memory_budget_bytes must be > 0, got {memory_budget_bytes}")
    n_queries, n_items = max(int(n_queries), 1), max(int(n_items), 1)
    per_query = 4 * dim + _BYTES_PER_QUERY_EXTRA
    per_item = 4 * dim + _BYTES_PER_ITEM_EXTRA
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size}")
        items = min(int(chunk_size), n_items)
        queries = (memory_budget_bytes - items * per_item) // (items * _BYTES_PER_SCORE + per_query)
        queries = min(queries, n_queries, max_query_chunk)
        if queries < 1:
            raise ValueError(
                f"memory_budget_bytes={memory_budget_bytes} cannot hold one query against "
                f"chunk_size={chunk_size} items of dim {dim} "
                f"(needs {chunk_bytes(1, items, dim)} bytes)"
            )
    else:
        balanced = math.isqrt(n_queries * memory_budget_bytes // (_BYTES_PER_SCORE * n_items))
        queries = max(1, min(n_queries, max_query_chunk, balanced))
        while True:
            items = (memory_budget_bytes - queries * per_query) // (
                queries * _BYTES_PER_SCORE + per_item
            )
            if items >= 1 or queries == 1:
                break
            # Not one item fits: solve for the queries that fit next to one item.
            queries = max(1, (memory_budget_bytes - per_item) // (_BYTES_PER_SCORE + per_query))
            queries = min(queries, n_queries, max_query_chunk)
        items = min(items, n_items)
        if items < 1:
            raise ValueError(
                f"memory_budget_bytes={memory_budget_bytes} cannot hold one query against one "
                f"item of dim {dim} (needs {chunk_bytes(1, 1, dim)} bytes)"
            )
    return ChunkPlan(int(queries), int(items), chunk_bytes(int(queries), int(items), dim))
