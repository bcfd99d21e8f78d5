import numpy as np
import pytest

from hiertcn_keras.losses import l2_loss


def np_l2(u, y, mask):
    per_event = ((u - y) ** 2).sum(-1)
    return (per_event * mask).sum() / mask.sum(), per_event


def test_hand_value():
    # Event 0: u − y = [1, −2] → 1 + 4 = 5.  Event 1: u − y = [0, 3] → 9, weight 0 (padding).
    u = np.array([[1.0, 2.0], [5.0, 5.0]], "float32")
    y = np.array([[0.0, 4.0], [5.0, 2.0]], "float32")
    assert float(l2_loss(u, y, mask=np.array([1.0, 0.0]))) == pytest.approx(5.0)
    # Unmasked: (5 + 9) / 2 = 7.
    assert float(l2_loss(u, y)) == pytest.approx(7.0)


def test_matches_numpy_reference(pairwise_inputs):
    u, y, _, _, mask = pairwise_inputs()
    expected, per_event = np_l2(u.astype("float64"), y.astype("float64"), mask)
    assert float(l2_loss(u, y, mask)) == pytest.approx(expected, rel=1e-5)
    got = np.asarray(l2_loss(u, y, mask, reduction="none"))
    np.testing.assert_allclose(got, per_event * (mask != 0) * mask, rtol=1e-5)


def test_uses_raw_u_not_normalised():
    # ‖u‖ = 10: normalising first would give (1 − 1)² = 0; the official L2 is on u: 9² = 81.
    u = np.array([[10.0, 0.0]], "float32")
    y = np.array([[1.0, 0.0]], "float32")
    assert float(l2_loss(u, y)) == pytest.approx(81.0)
