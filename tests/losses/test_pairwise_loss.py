"""Properties every pairwise loss shares, checked through the `pairwise_loss` dispatcher."""

import numpy as np
import pytest

from hiertcn_keras.losses import (
    PAIRWISE_LOSSES,
    bpr_loss,
    hinge_loss,
    l2_loss,
    nce_loss,
    pairwise_loss,
)


@pytest.mark.parametrize("name", PAIRWISE_LOSSES)
def test_padding_changes_nothing(pairwise_inputs, name):
    u, y, neg, _, mask = pairwise_inputs(seed=4)
    base = float(pairwise_loss(name, u, y, neg, mask))
    # Rewrite everything in the padded events (1 and 4), even with huge values.
    u2, y2, neg2 = u.copy(), y.copy(), neg.copy()
    for i in (1, 4):
        u2[i], y2[i], neg2[i] = 1e30, -1e30, 1e30
    assert float(pairwise_loss(name, u2, y2, neg2, mask)) == pytest.approx(base, rel=1e-6)
    # And equal to the loss of the real events alone.
    keep = mask != 0
    alone = float(pairwise_loss(name, u[keep], y[keep], neg[keep], mask[keep]))
    assert alone == pytest.approx(base, rel=1e-6)


@pytest.mark.parametrize("name", PAIRWISE_LOSSES)
def test_shared_equals_broadcast_per_event(pairwise_inputs, name):
    u, y, _, shared, mask = pairwise_inputs(seed=5)
    per_event = np.broadcast_to(shared, (u.shape[0],) + shared.shape).copy()
    a = float(pairwise_loss(name, u, y, shared, mask))
    b = float(pairwise_loss(name, u, y, per_event, mask))
    assert a == pytest.approx(b, rel=1e-6)


@pytest.mark.parametrize("name", PAIRWISE_LOSSES)
def test_leading_dims_equal_flattened(pairwise_inputs, name):
    # [B, L, D] user vectors with per-event [B, L, K, D] negatives equal the flat [N, ...] case.
    u, y, neg, shared, mask = pairwise_inputs(n=6, seed=6)
    flat = float(pairwise_loss(name, u, y, neg, mask))
    nested = pairwise_loss(
        name, u.reshape(2, 3, -1), y.reshape(2, 3, -1), neg.reshape(2, 3, *neg.shape[1:]),
        mask.reshape(2, 3),
    )
    assert float(nested) == pytest.approx(flat, rel=1e-6)
    nested_shared = pairwise_loss(
        name, u.reshape(2, 3, -1), y.reshape(2, 3, -1), shared, mask.reshape(2, 3)
    )
    assert float(nested_shared) == pytest.approx(
        float(pairwise_loss(name, u, y, shared, mask)), rel=1e-6
    )


@pytest.mark.parametrize("name", PAIRWISE_LOSSES)
def test_gradients_finite_at_zero_user(pairwise_inputs, grad, name):
    _, y, neg, _, mask = pairwise_inputs(seed=7)
    u0 = np.zeros((y.shape[0], y.shape[1]), "float32")
    value, g = grad(lambda u: pairwise_loss(name, u, y, neg, mask), u0)
    assert np.isfinite(value) and np.isfinite(g).all()


def test_dispatch_matches_functions(pairwise_inputs):
    u, y, neg, _, mask = pairwise_inputs(seed=8)
    assert float(pairwise_loss("l2", u, y, None, mask)) == float(l2_loss(u, y, mask))
    assert float(pairwise_loss("nce", u, y, neg, mask)) == float(nce_loss(u, y, neg, mask))
    assert float(pairwise_loss("bpr", u, y, neg, mask)) == float(bpr_loss(u, y, neg, mask))
    assert float(pairwise_loss("hinge", u, y, neg, mask, margin=0.3)) == float(
        hinge_loss(u, y, neg, mask, margin=0.3)
    )
    assert float(pairwise_loss("hinge_logsigmoid", u, y, neg, mask)) == float(
        hinge_loss(u, y, neg, mask, variant="logsigmoid")
    )
    assert float(pairwise_loss("hinge", u, y, neg, mask, hinge_variant="logsigmoid")) == float(
        hinge_loss(u, y, neg, mask, variant="logsigmoid")
    )


def test_dispatch_validates():
    x = np.ones((2, 3), "float32")
    with pytest.raises(ValueError, match="loss must be one of"):
        pairwise_loss("softmax", x, x, x)
    with pytest.raises(ValueError, match="needs negatives"):
        pairwise_loss("nce", x, x, None)
