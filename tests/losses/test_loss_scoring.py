import numpy as np
import pytest

from hiertcn_keras.losses import l2_normalize, log_sigmoid, masked_mean
from hiertcn_keras.losses.scoring import target_and_negative_scores


def test_l2_normalize_zero_and_unit():
    # [3, 4] / 5 = [0.6, 0.8]; the zero vector stays zero (no 0/0).
    got = np.asarray(l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]], "float32")))
    np.testing.assert_allclose(got, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_l2_normalize_gradient_finite_at_zero(grad):
    value, g = grad(lambda u: l2_normalize(u)[0, 0], np.zeros((1, 3), "float32"))
    assert value == 0.0 and np.isfinite(g).all()


def test_log_sigmoid_stable():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0], "float32")
    got = np.asarray(log_sigmoid(x))
    # log σ(−1000) = −1000 (not −inf), log σ(0) = −log 2, log σ(1000) = 0 (not NaN).
    expected = -np.logaddexp(0.0, -x.astype("float64"))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    assert np.isfinite(got).all()


def test_masked_mean_weights_and_empty():
    values = np.array([1.0, 2.0, 4.0, np.inf], "float32")
    # (1·1 + 2·0.5 + 4·0 + inf·0) / (1 + 0.5) = 2 / 1.5; the inf of a padded event adds nothing.
    mask = np.array([1.0, 0.5, 0.0, 0.0], "float32")
    assert float(masked_mean(values, mask)) == pytest.approx(2 / 1.5)
    np.testing.assert_allclose(
        np.asarray(masked_mean(values, mask, reduction="none")), [1.0, 1.0, 0.0, 0.0]
    )
    # All padding: 0, not 0/0.
    assert float(masked_mean(values, np.zeros(4, "float32"))) == 0.0
    # Boolean masks work as 0/1 weights.
    assert float(masked_mean(values[:3], np.array([True, True, False]))) == pytest.approx(1.5)


def test_masked_mean_validates():
    with pytest.raises(ValueError, match="mask must have shape"):
        masked_mean(np.ones(3, "float32"), np.ones(4, "float32"))
    with pytest.raises(ValueError, match="reduction must be one of"):
        masked_mean(np.ones(3, "float32"), None, reduction="sum")


def test_scores_shapes_and_errors():
    p = np.ones((2, 3), "float32")
    pos, neg = target_and_negative_scores(p, p, np.ones((4, 3), "float32"))
    assert tuple(pos.shape) == (2,) and tuple(neg.shape) == (2, 4)
    pos, neg = target_and_negative_scores(p, p, np.ones((2, 4, 3), "float32"))
    assert tuple(neg.shape) == (2, 4)
    with pytest.raises(ValueError, match="negatives must have shape"):
        target_and_negative_scores(p, p, np.ones((2, 2, 4, 3), "float32"))
    with pytest.raises(ValueError, match="at least one negative"):
        target_and_negative_scores(p, p, np.ones((0, 3), "float32"))
