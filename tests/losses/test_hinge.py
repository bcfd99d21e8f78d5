import numpy as np
import pytest

from hiertcn_keras.losses import hinge_loss


def np_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def np_hinge(u, y, neg, mask, margin=0.1, variant="linear"):
    p = u / np.linalg.norm(u, axis=-1, keepdims=True)
    pos = (p * y).sum(-1)
    negs = np.einsum("nd,nkd->nk", p, neg) if neg.ndim == 3 else p @ neg.T
    if variant == "logsigmoid":
        pos, negs = np_log_sigmoid(pos), np_log_sigmoid(negs)
    per_event = np.maximum(0.0, margin + negs - pos[:, None]).mean(-1)
    return (per_event * mask).sum() / mask.sum()


def test_hand_value_linear():
    # p̂ = [1, 0]; p̂·y = 0.5; negatives score 0.45 and 0.2:
    # (max(0, 0.1 + 0.45 − 0.5) + max(0, 0.1 + 0.2 − 0.5)) / 2 = (0.05 + 0) / 2 = 0.025.
    u = np.array([[2.0, 0.0]], "float32")
    y = np.array([[0.5, 7.0]], "float32")
    neg = np.array([[[0.45, 1.0], [0.2, -1.0]]], "float32")
    assert float(hinge_loss(u, y, neg)) == pytest.approx(0.025, abs=1e-6)
    # Margin 0.5: (0.45 + 0.2) / 2 = 0.325.
    assert float(hinge_loss(u, y, neg, margin=0.5)) == pytest.approx(0.325, abs=1e-6)


def test_hand_value_logsigmoid():
    # p̂·y = 0, p̂·c = 0: max(0, 0.1 + log σ(0) − log σ(0)) = 0.1.
    # p̂·c = 2:  0.1 + log σ(2) − log σ(0) = 0.1 − 0.126928 + 0.693147 = 0.666219.
    u = np.array([[1.0, 0.0]], "float32")
    y = np.array([[0.0, 1.0]], "float32")
    neg = np.array([[[0.0, 1.0], [2.0, 0.0]]], "float32")
    expected = (0.1 + 0.666219) / 2
    got = float(hinge_loss(u, y, neg, variant="logsigmoid"))
    assert got == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("variant", ["linear", "logsigmoid"])
@pytest.mark.parametrize("shared", [False, True])
def test_matches_numpy_reference(pairwise_inputs, variant, shared):
    u, y, neg, shared_neg, mask = pairwise_inputs(seed=3)
    negatives = shared_neg if shared else neg
    # Scale y so that some hinges are active and some not.
    args = (u.astype("float64"), 0.3 * y.astype("float64"), negatives.astype("float64"))
    expected = np_hinge(*args, mask, variant=variant)
    got = float(hinge_loss(u, 0.3 * y, negatives, mask, variant=variant))
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_rejects_unknown_variant():
    with pytest.raises(ValueError, match="variant must be one of"):
        hinge_loss(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), variant="square")
