import pytest

from hiertcn_keras.metrics import chunk_bytes, plan_chunks


def test_plan_for_a_million_items_fits_the_budget():
    budget = 256 * 2**20
    plan = plan_chunks(n_queries=100_000, n_items=1_000_000, dim=128, memory_budget_bytes=budget)
    # The full [n × C] float32 matrix would be 400 GB; one step stays under 256 MiB.
    assert plan.peak_bytes <= budget
    assert plan.item_chunk < 1_000_000 and plan.query_chunk <= 4096
    assert chunk_bytes(plan.query_chunk, plan.item_chunk, 128) == plan.peak_bytes


def test_balanced_query_chunk():
    # q = isqrt(n · budget / (8 · C)) = isqrt(2000 · 2^28 / (8 · 500,000)) = isqrt(134,217) = 366.
    plan = plan_chunks(2000, 500_000, 128, 2**28)
    assert plan.query_chunk == 366 and plan.peak_bytes <= 2**28
    # A small catalogue fits whole: one item chunk, all queries up to the cap.
    plan = plan_chunks(10_000, 1_000, 16, 2**28)
    assert plan.item_chunk == 1_000 and plan.query_chunk == 4096


def test_fixed_chunk_size_sizes_the_queries():
    # chunk_bytes(q, 10, 4) = 80q + 10·24 + 64q = 144q + 240 ≤ 1,000 → q = 5.
    plan = plan_chunks(100, 50, 4, 1_000, chunk_size=10)
    assert (plan.query_chunk, plan.item_chunk) == (5, 10)


def test_validation():
    with pytest.raises(ValueError, match="memory_budget_bytes must be > 0"):
        plan_chunks(1, 1, 1, 0)
    with pytest.raises(ValueError, match="chunk_size must be ≥ 1"):
        plan_chunks(1, 1, 1, 100, chunk_size=0)
    with pytest.raises(ValueError, match="cannot hold one query against one item"):
        plan_chunks(10, 10, 8, 16)
    with pytest.raises(ValueError, match="cannot hold one query against chunk_size"):
        plan_chunks(10, 10, 8, 200, chunk_size=10)


def test_budget_from_memory_is_a_share_between_floor_and_ceiling():
    from hiertcn_keras.metrics.chunking import (DEFAULT_MEMORY_BUDGET_BYTES, MAX_MEMORY_BUDGET_BYTES,
                                                MIN_MEMORY_BUDGET_BYTES, budget_from_memory)

    assert budget_from_memory(512 * 2**20) == 128 * 2**20
    assert budget_from_memory(64 * 2**30) == MAX_MEMORY_BUDGET_BYTES == 2**30
    assert budget_from_memory(20 * 2**20) == budget_from_memory(0) == MIN_MEMORY_BUDGET_BYTES
    assert budget_from_memory(None) == DEFAULT_MEMORY_BUDGET_BYTES
    with pytest.raises(ValueError, match="share"):
        budget_from_memory(2**30, share=0)


def test_chunks_shrink_with_less_free_memory():
    from hiertcn_keras.metrics import budget_from_memory

    # A Globo-sized evaluation: 90k test targets against 45k items of dim 128.
    plans = [plan_chunks(90_000, 45_000, 128, budget_from_memory(free))
             for free in (32 * 2**30, 2 * 2**30, 512 * 2**20, 128 * 2**20, 2**20)]
    cells = [p.query_chunk * p.item_chunk for p in plans]
    assert cells == sorted(cells, reverse=True) and len(set(cells)) == len(cells)
    for plan, free in zip(plans, (32 * 2**30, 2 * 2**30, 512 * 2**20, 128 * 2**20, 2**20)):
        assert plan.peak_bytes <= budget_from_memory(free)
    # A larger catalogue in the same memory gets more, narrower query chunks.
    wide = plan_chunks(90_000, 450_000, 128, budget_from_memory(2 * 2**30))
    assert wide.query_chunk < plans[1].query_chunk and wide.peak_bytes <= budget_from_memory(2 * 2**30)
