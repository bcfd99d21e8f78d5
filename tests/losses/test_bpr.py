import numpy as np
import pytest

from hiertcn_keras.losses import bpr_loss


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_bpr(u, y, neg, mask):
    p = u / np.linalg.norm(u, axis=-1, keepdims=True)
    pos = (p * y).sum(-1)
    negs = np.einsum("nd,nkd->nk", p, neg) if neg.ndim == 3 else p @ neg.T
    diff = np_sigmoid(pos)[:, None] - np_sigmoid(negs)
    per_event = -np.log(np_sigmoid(diff)).mean(-1)
    return (per_event * mask).sum() / mask.sum()


def test_hand_value():
    # p̂·y = p̂·c = 0: −log σ(σ(0) − σ(0)) = −log σ(0) = log 2 = 0.693147.
    u = np.array([[0.0, 5.0]], "float32")
    y = np.array([[1.0, 0.0]], "float32")
    neg = np.array([[[3.0, 0.0]]], "float32")
    assert float(bpr_loss(u, y, neg)) == pytest.approx(np.log(2), rel=1e-6)
    # Sigmoids inside (as coded): p̂·y = 20, p̂·c = −20 → σ-difference ≈ 1 → −log σ(1) = 0.313262,
    # not textbook BPR's −log σ(40) ≈ 0.
    y = np.array([[0.0, 20.0]], "float32")
    neg = np.array([[[0.0, -20.0]]], "float32")
    assert float(bpr_loss(u, y, neg)) == pytest.approx(0.313262, abs=1e-5)


@pytest.mark.parametrize("shared", [False, True])
def test_matches_numpy_reference(pairwise_inputs, shared):
    u, y, neg, shared_neg, mask = pairwise_inputs(seed=2)
    negatives = shared_neg if shared else neg
    expected = np_bpr(*(a.astype("float64") for a in (u, y, negatives)), mask)
    assert float(bpr_loss(u, y, negatives, mask)) == pytest.approx(expected, rel=1e-5)
