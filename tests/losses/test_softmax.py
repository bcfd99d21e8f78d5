import numpy as np
import pytest

from hiertcn_keras.losses import full_softmax_loss, sampled_softmax_loss


def np_logsumexp(z, axis=-1):
    m = z.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def np_full_softmax(logits, targets, mask):
    per_event = np_logsumexp(logits) - logits[np.arange(len(targets)), targets]
    return (per_event * mask).sum() / mask.sum()


def np_sampled_softmax(u, targets, w, b, sampled, log_q_s, log_q_t, mask, remove_hits=True):
    """Straight from the definition: candidates = target + sampled, logit − log Q."""
    losses = []
    for n, t in enumerate(targets):
        z_t = u[n] @ w[t] + b[t] - log_q_t[n]
        z_s = u[n] @ w[sampled].T + b[sampled] - log_q_s
        if remove_hits:
            z_s = z_s[sampled != t]
        losses.append(np_logsumexp(np.concatenate([[z_t], z_s])) - z_t)
    losses = np.array(losses)
    return (losses * mask).sum() / mask.sum()


def test_full_hand_value():
    # logits [0, ln 3], target 1: softmax = [1/4, 3/4] → −log(3/4) = 0.287682.
    logits = np.array([[0.0, np.log(3.0)]], "float32")
    assert float(full_softmax_loss(logits, np.array([1]))) == pytest.approx(0.287682, abs=1e-6)
    # Target 0 → −log(1/4) = 1.386294.
    assert float(full_softmax_loss(logits, np.array([0]))) == pytest.approx(1.386294, abs=1e-6)


def test_full_matches_reference_with_mask():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 11)).astype("float32") * 3
    targets = rng.integers(0, 11, size=7)
    mask = np.array([1, 1, 0, 1, 0, 1, 1], "float32")
    expected = np_full_softmax(logits.astype("float64"), targets, mask)
    assert float(full_softmax_loss(logits, targets, mask)) == pytest.approx(expected, rel=1e-5)
    # Padding changes nothing: garbage logits in padded rows.
    logits2 = logits.copy()
    logits2[[2, 4]] = 1e30
    assert float(full_softmax_loss(logits2, targets, mask)) == pytest.approx(expected, rel=1e-5)


def test_full_is_stable_and_not_double_softmax():
    # Logits of 1e4: a naive softmax overflows; softmax applied twice would flatten the
    # distribution (loss → log C). Exact: target at 1e4 vs others 0 → loss ≈ 0.
    logits = np.array([[1e4, 0.0, 0.0, 0.0]], "float32")
    assert float(full_softmax_loss(logits, np.array([0]))) == pytest.approx(0.0, abs=1e-6)
    assert float(full_softmax_loss(logits, np.array([1]))) == pytest.approx(1e4, rel=1e-6)


def test_sampled_hand_accidental_hits():
    # All logits 0, no correction, target 1, sampled [1, 2]: the hit on 1 is masked →
    # logsumexp(0, 0) − 0 = log 2 = 0.693147; kept → log 3 = 1.098612.
    u = np.zeros((1, 2), "float32")
    w = np.ones((4, 2), "float32")
    kw = dict(u=u, targets=np.array([1]), weights=w, bias=None, sampled=np.array([1, 2]))
    assert float(sampled_softmax_loss(**kw)) == pytest.approx(np.log(2), abs=1e-6)
    assert float(sampled_softmax_loss(**kw, remove_accidental_hits=False)) == pytest.approx(
        np.log(3), abs=1e-6
    )


def test_sampled_invalid_slots_count_as_nothing():
    # All logits 0, target 1, sampled [1, 2, 3] with slot 3 invalid and its log Q −inf (a
    # padded position's target): the hit on 1 is masked and slot 3 is not a candidate →
    # logsumexp(0, 0) = log 2, finite; with every slot valid (no correction) → log 3.
    u = np.zeros((1, 2), "float32")
    w = np.ones((4, 2), "float32")
    kw = dict(u=u, targets=np.array([1]), weights=w, bias=None, sampled=np.array([1, 2, 3]))
    log_q = np.array([0.0, 0.0, -np.inf], "float32")
    got = sampled_softmax_loss(**kw, sampled_log_q=log_q, sampled_valid=np.array([True, True, False]))
    assert float(got) == pytest.approx(np.log(2), abs=1e-6)
    assert float(sampled_softmax_loss(**kw, sampled_valid=np.ones(3, bool))) == pytest.approx(np.log(3), abs=1e-6)


def test_sampled_with_mixed_proposal_hand_value():
    # In-batch negatives: 1 shared draw from Q, plus the batch's n = 2 targets [1, 2] from the
    # unigram P. Q = [_, 1/2, 1/4, 1/4], P = [_, 3/4, 1/4, 0], every u·w = 0, sampled [3].
    # Expected counts M·Q + n·P: item 1: 1/2 + 3/2 = 2, item 2: 1/4 + 1/2 = 3/4, item 3: 1/4.
    # Event 0 (target 1): candidates 3 (z = −log 1/4) and the batch's 2 (z = −log 3/4); the
    # batch's 1 is its own target (removed). ℓ0 = log(1/2 + 4 + 4/3) − log(1/2) with z_t = −log 2.
    # Event 1 (target 2): candidates 3 and the batch's 1; ℓ1 = log(4/3 + 4 + 1/2) − log(4/3).
    from hiertcn_keras.losses import log_expected_counts

    log_q = np.log(np.array([1.0, 0.5, 0.25, 0.25], "float32"))
    with np.errstate(divide="ignore"):
        log_p = np.log(np.array([1.0, 0.75, 0.25, 0.0], "float32"))
    targets = np.array([1, 2])
    candidates = np.array([3, 1, 2])  # the shared draw, then the batch's targets
    counts = lambda ids: log_expected_counts(log_q[ids], 1, log_p[ids], np.float32(2))  # noqa: E731
    np.testing.assert_allclose(np.exp(np.asarray(counts(candidates))), [0.25, 2.0, 0.75], rtol=1e-6)
    got = sampled_softmax_loss(np.zeros((2, 2), "float32"), targets, np.zeros((4, 2), "float32"), None,
                               candidates, counts(candidates), counts(targets))
    expected = (np.log(0.5 + 4 + 4 / 3) - np.log(0.5) + np.log(4 / 3 + 4 + 0.5) - np.log(4 / 3)) / 2
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_sampled_all_items_uniform_q_equals_full():
    rng = np.random.default_rng(1)
    n, c, d = 6, 9, 4
    u = rng.normal(size=(n, d)).astype("float32")
    w = rng.normal(size=(c, d)).astype("float32")
    b = rng.normal(size=c).astype("float32")
    targets = rng.integers(0, c, size=n)
    mask = np.array([1, 0, 1, 1, 1, 0], "float32")
    logits = u.astype("float64") @ w.T.astype("float64") + b
    full = np_full_softmax(logits, targets, mask)
    all_ids = np.arange(c)
    log_q = np.full(c, -np.log(c), "float32")  # uniform Q: a constant shift, cancels
    got = sampled_softmax_loss(u, targets, w, b, all_ids, log_q, log_q[targets], mask)
    assert float(got) == pytest.approx(full, rel=1e-5)
    # Keeping the accidental hits, the target is counted twice:
    # ℓ = −log(e^{z_t} / (Σ_j e^{z_j} + e^{z_t})).
    z_t = logits[np.arange(n), targets]
    twice = np.logaddexp(np_logsumexp(logits), z_t) - z_t
    expected = (twice * mask).sum() / mask.sum()
    got = sampled_softmax_loss(
        u, targets, w, b, all_ids, log_q, log_q[targets], mask, remove_accidental_hits=False
    )
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_log_q_correction():
    # Hand: u·w = 0 for all, target 1 with Q = 1/2, one sample 2 with Q = 1/8:
    # z_t = −log(1/2) = 0.693147, z_s = −log(1/8) = 2.079442;
    # ℓ = logsumexp(z_t, z_s) − z_t = log(1 + e^{1.386294}) = log(1 + 4) = 1.609438.
    u = np.zeros((1, 2), "float32")
    w = np.zeros((3, 2), "float32")
    got = sampled_softmax_loss(
        u, np.array([1]), w, None, np.array([2]), np.log([1 / 8]), np.log([1 / 2])
    )
    assert float(got) == pytest.approx(np.log(5), abs=1e-6)


def test_sampled_matches_reference_with_hits_and_correction():
    rng = np.random.default_rng(2)
    n, c, d, m = 8, 20, 5, 7
    u = rng.normal(size=(n, d)).astype("float32")
    w = rng.normal(size=(c, d)).astype("float32")
    b = rng.normal(size=c).astype("float32")
    q = rng.random(c) + 0.1
    log_q = np.log(q / q.sum()).astype("float32")
    sampled = rng.integers(1, c, size=m)
    targets = sampled[rng.integers(0, m, size=n)]  # every target is an accidental hit
    targets[:3] = rng.integers(1, c, size=3)
    mask = (rng.random(n) > 0.3).astype("float32")
    mask[0] = 1.0
    args = (u, targets, w, b, sampled, log_q[sampled], log_q[targets], mask)
    for remove in (True, False):
        expected = np_sampled_softmax(
            *(a.astype("float64") if a.dtype.kind == "f" else a for a in args),
            remove_hits=remove,
        )
        got = float(sampled_softmax_loss(*args, remove_accidental_hits=remove))
        assert got == pytest.approx(expected, rel=1e-5)
    # A constant shift of every log Q cancels.
    shifted = (u, targets, w, b, sampled, log_q[sampled] + 3.0, log_q[targets] + 3.0, mask)
    assert float(sampled_softmax_loss(*shifted)) == pytest.approx(
        float(sampled_softmax_loss(*args)), rel=1e-5
    )


def test_sampled_gradient_finite_at_zero_user(grad):
    w = np.random.default_rng(3).normal(size=(5, 3)).astype("float32")
    value, g = grad(
        lambda u: sampled_softmax_loss(u, np.array([1, 2]), w, None, np.array([1, 3, 4])),
        np.zeros((2, 3), "float32"),
    )
    assert np.isfinite(value) and np.isfinite(g).all()
