import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiertcn_keras.metrics import RankingMetrics, count_ranks, ranking_metrics


def reference(ranks, n, ks=(1, 5, 10, 20), ndcg_ks=(10,)):
    """Per-event NumPy reference, straight from the definitions."""
    r = np.asarray(ranks, float)
    out = {f"recall@{k}": np.mean(r <= k) for k in ks}
    out["mrr"] = np.mean(1 / r)
    out["mrp"] = np.mean((r - 1) / n)
    out.update({f"ndcg@{k}": np.mean(np.where(r <= k, 1 / np.log2(r + 1), 0)) for k in ndcg_ks})
    return out


def test_hand_example():
    # N = 100 candidates, ranks 1, 3, 10, 20, 21.
    got = RankingMetrics(100).update([1, 3, 10, 20, 21]).result()
    assert got["recall@1"] == pytest.approx(1 / 5)
    assert got["recall@5"] == pytest.approx(2 / 5)  # 1, 3
    assert got["recall@10"] == pytest.approx(3 / 5)  # rank exactly 10 is a hit
    assert got["recall@20"] == pytest.approx(4 / 5)  # rank exactly 20 is a hit, 21 is not
    assert got["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 10 + 1 / 20 + 1 / 21) / 5)
    # (0 + 2 + 9 + 19 + 20) / 100 / 5 = 0.1
    assert got["mrp"] == pytest.approx(0.1)
    # 1/log2(2) + 1/log2(4) + 1/log2(11) = 1 + 0.5 + 0.289065
    assert got["ndcg@10"] == pytest.approx((1 + 0.5 + 1 / math.log2(11)) / 5)
    assert got["n_events"] == 5 and "n_users" not in got
    assert list(got) == [
        "recall@1", "recall@5", "recall@10", "recall@20", "mrr", "mrp", "ndcg@10", "n_events"
    ]


@pytest.mark.parametrize("k", [1, 5, 10, 20])
def test_rank_exactly_k_is_a_hit(k):
    got = ranking_metrics([k, k + 1], n_candidates=50)
    assert got[f"recall@{k}"] == 0.5


def test_per_user_vs_per_event():
    # N = 100; user a: ranks 1, 3; user b: rank 10.
    ranks, users = [1, 3, 10], ["a", "a", "b"]
    event = RankingMetrics(100, ks=(1, 5)).update(ranks, users).result()
    user = RankingMetrics(100, ks=(1, 5), averaging="user").update(ranks, users).result()
    assert event["recall@5"] == pytest.approx(2 / 3)  # (1 + 1 + 0) / 3
    assert user["recall@5"] == pytest.approx(1 / 2)  # (mean(1, 1) + 0) / 2
    assert event["recall@1"] == pytest.approx(1 / 3)
    assert user["recall@1"] == pytest.approx(1 / 4)  # (0.5 + 0) / 2
    assert user["mrr"] == pytest.approx(((1 + 1 / 3) / 2 + 1 / 10) / 2)
    assert user["mrp"] == pytest.approx(((0 + 0.02) / 2 + 0.09) / 2)
    assert event["n_users"] == user["n_users"] == 2
    assert event["n_events"] == user["n_events"] == 3


def test_merge_equals_one_update_even_when_users_straddle_chunks():
    rng = np.random.default_rng(0)
    ranks = rng.integers(1, 31, size=200)
    users = rng.integers(0, 17, size=200)
    for averaging in ("event", "user"):
        whole = RankingMetrics(30, averaging=averaging).update(ranks, users).result()
        parts = [RankingMetrics(30, averaging=averaging) for _ in range(3)]
        for part, idx in zip(parts, np.array_split(np.arange(200), 3)):
            part.update(ranks[idx], users[idx])
        merged = parts[0].merge(parts[1]).merge(parts[2]).result()
        assert merged.keys() == whole.keys()
        for key in whole:
            assert merged[key] == pytest.approx(whole[key]), key
    # Several updates on one accumulator do the same.
    acc = RankingMetrics(30, averaging="user")
    for idx in np.array_split(np.arange(200), 7):
        acc.update(ranks[idx], users[idx])
    assert acc.result() == pytest.approx(
        RankingMetrics(30, averaging="user").update(ranks, users).result()
    )


def test_empty_gives_nan_not_zero_division():
    got = RankingMetrics(10).result()
    assert got["n_events"] == 0
    assert all(math.isnan(got[k]) for k in got if k != "n_events")
    got = RankingMetrics(10, averaging="user").update([], users=[]).result()
    assert got["n_events"] == 0 and got["n_users"] == 0 and math.isnan(got["mrr"])
    # Merging empties stays empty.
    assert RankingMetrics(10).merge(RankingMetrics(10)).result()["n_events"] == 0


def test_float_ranks_from_average_policy():
    # Rank 2.5: not in the top 2, in the top 5; 1/2.5 = 0.4; MRP 1.5 / 10; NDCG 1/log2(3.5).
    got = RankingMetrics(10, ks=(2, 5), ndcg_ks=(5,)).update([2.5]).result()
    assert got["recall@2"] == 0.0 and got["recall@5"] == 1.0
    assert got["mrr"] == pytest.approx(0.4)
    assert got["mrp"] == pytest.approx(0.15)
    assert got["ndcg@5"] == pytest.approx(1 / math.log2(3.5))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=60))
def test_agrees_with_numpy_reference(ranks):
    got = ranking_metrics(ranks, n_candidates=40)
    expected = reference(ranks, 40)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key
    assert got["n_events"] == len(ranks)


def test_with_count_ranks_on_all_equal_scores():
    # 8 items all scoring 0: conservative rank 8 = C (recall@1 0, MRP 7/8), optimistic rank 1.
    scores = np.zeros((4, 8))
    targets = np.array([0, 2, 4, 7])
    cons = ranking_metrics(count_ranks(scores, targets), n_candidates=8)
    opt = ranking_metrics(count_ranks(scores, targets, "optimistic"), n_candidates=8)
    assert cons["recall@1"] == 0.0 and cons["mrp"] == pytest.approx(7 / 8)
    assert opt["recall@1"] == 1.0 and opt["mrp"] == 0.0


def test_validation():
    with pytest.raises(ValueError, match="ranks must lie in"):
        RankingMetrics(10).update([0])
    with pytest.raises(ValueError, match="ranks must lie in"):
        RankingMetrics(10).update([11])
    with pytest.raises(ValueError, match="ranks must lie in"):
        RankingMetrics(10).update([np.nan])
    with pytest.raises(ValueError, match="needs the users"):
        RankingMetrics(10, averaging="user").update([1])
    with pytest.raises(ValueError, match="every update or with none"):
        RankingMetrics(10).update([1], users=[3]).update([2])
    with pytest.raises(ValueError, match="can only merge"):
        RankingMetrics(10).merge(RankingMetrics(11))
    with pytest.raises(ValueError, match="averaging must be one of"):
        RankingMetrics(10, averaging="session")
    with pytest.raises(ValueError, match="ks must all be"):
        RankingMetrics(10, ks=(0,))
    with pytest.raises(ValueError, match="n_candidates"):
        RankingMetrics(0)
