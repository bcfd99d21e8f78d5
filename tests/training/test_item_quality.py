import numpy as np

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.training.item_quality import consecutive_pairs, next_item_quality


def view():
    # one user, one session 1 -> 2 -> 3, all scored; another session 3 -> 1.
    return EventView(np.ones(5, np.int32), np.array([1, 2, 3, 3, 1], np.int32), np.arange(5.0),
                     np.array([0, 0, 0, 1, 1], np.int32), np.zeros(5, np.int16), np.ones(5, bool), "test")


def test_pairs_within_sessions_only():
    prev, target = consecutive_pairs(view())
    assert list(zip(prev.tolist(), target.tolist())) == [(1, 2), (2, 3), (3, 1)]


def test_perfect_vectors_hit_at_one_and_zero_vectors_rank_last():
    # Item k's vector points at its successor: v1·v2 is the largest score for query 1, etc.
    v = np.zeros((5, 4), np.float32)
    v[1] = [1, 1, 0, 0]
    v[2] = [0, 1, 1, 0]
    v[3] = [1, 0, 1, 0]
    v[4] = [0, 0, 0, 1]
    result = next_item_quality(v, view(), n_catalogue=4)
    # Query 1 (self excluded): scores 2 -> 1, 3 -> 1, 4 -> 0: conservative rank 2 for target 2.
    assert result["n_events"] == 3
    zeros = next_item_quality(np.zeros((5, 4), np.float32), view(), n_catalogue=4)
    # All ties among the 3 other candidates: conservative rank 3 = last.
    assert zeros["recall@1"] == 0.0 and np.isclose(zeros["mrr"], 1 / 3)
    assert result["mrr"] > zeros["mrr"]
