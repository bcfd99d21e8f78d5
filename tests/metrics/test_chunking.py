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
