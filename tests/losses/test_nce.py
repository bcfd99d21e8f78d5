import numpy as np
import pytest

from hiertcn_keras.losses import nce_loss


def np_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def np_nce(u, y, neg, mask):
    p = u / np.linalg.norm(u, axis=-1, keepdims=True)
    pos = (p * y).sum(-1)
    negs = np.einsum("nd,nkd->nk", p, neg) if neg.ndim == 3 else p @ neg.T
    per_event = -np_log_sigmoid(pos) - np_log_sigmoid(-negs).mean(-1)
    return (per_event * mask).sum() / mask.sum()


def test_hand_value():
    # p̂ = [1, 0]; p̂·y = 0, p̂·c = 0 → −log σ(0) − log σ(0) = 2 log 2 = 1.386294.
    u = np.array([[3.0, 0.0]], "float32")
    y = np.array([[0.0, 1.0]], "float32")
    neg = np.array([[[0.0, 2.0]]], "float32")
    assert float(nce_loss(u, y, neg)) == pytest.approx(2 * np.log(2), rel=1e-6)
    # p̂·y = 2, two negatives scoring 1 and −1:
    # −log σ(2) − (log σ(−1) + log σ(1)) / 2 = 0.126928 + (1.313262 + 0.313262) / 2 = 0.940190.
    y = np.array([[2.0, 0.0]], "float32")
    neg = np.array([[[1.0, 0.0], [-1.0, 0.0]]], "float32")
    assert float(nce_loss(u, y, neg)) == pytest.approx(0.940190, abs=1e-5)


@pytest.mark.parametrize("shared", [False, True])
def test_matches_numpy_reference(pairwise_inputs, shared):
    u, y, neg, shared_neg, mask = pairwise_inputs(seed=1)
    negatives = shared_neg if shared else neg
    expected = np_nce(*(a.astype("float64") for a in (u, y, negatives)), mask)
    assert float(nce_loss(u, y, negatives, mask)) == pytest.approx(expected, rel=1e-5)


def test_stable_for_large_scores():
    # Scores of ±1e4 (large item vectors): log σ must not under/overflow. p̂·y = 1e4 → ~0;
    # p̂·c = 1e4 → −log σ(−1e4) = 1e4.
    u = np.array([[1.0, 0.0]], "float32")
    y = np.array([[1e4, 0.0]], "float32")
    neg = np.array([[[1e4, 0.0]]], "float32")
    assert float(nce_loss(u, y, neg)) == pytest.approx(1e4, rel=1e-6)
