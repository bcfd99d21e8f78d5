import os

import keras
import numpy as np
import pytest

from hiertcn_keras.losses import NegativeSampler

COUNTS = [0, 100, 50, 10, 0, 5]


def test_uniform_never_zero_and_roughly_uniform():
    sampler = NegativeSampler("uniform", n_items=6, seed=0)
    ids = np.asarray(sampler.sample(5000))
    assert ids.min() >= 1 and ids.max() <= 5
    observed = np.bincount(ids, minlength=6)[1:]
    expected = np.full(5, 1000.0)
    # Pearson χ² with 4 degrees of freedom; the 99.9% quantile is 18.47.
    assert ((observed - expected) ** 2 / expected).sum() < 18.47


def test_popularity_respects_alpha():
    sampler = NegativeSampler("popularity", alpha=0.75, counts=COUNTS, seed=0)
    # Q ∝ count^0.75: items 0 (padding) and 4 (never seen) have probability 0.
    w = np.array(COUNTS, float) ** 0.75
    w[0] = 0
    np.testing.assert_allclose(sampler.probabilities, w / w.sum())
    ids = np.asarray(sampler.sample(20000))
    observed = np.bincount(ids, minlength=6)
    assert observed[0] == 0 and observed[4] == 0
    expected = 20000 * w / w.sum()
    live = expected > 0
    # χ² over the 4 live items (3 dof); 99.9% quantile 16.27.
    chi2 = ((observed[live] - expected[live]) ** 2 / expected[live]).sum()
    assert chi2 < 16.27


def test_log_q():
    sampler = NegativeSampler("popularity", alpha=1.0, counts=COUNTS, seed=0)
    # alpha = 1: Q(1) = 100 / 165.
    got = np.asarray(sampler.log_q(np.array([1, 3, 0])))
    assert got[0] == pytest.approx(np.log(100 / 165), rel=1e-6)
    assert got[1] == pytest.approx(np.log(10 / 165), rel=1e-6)
    assert got[2] == -np.inf
    uniform = NegativeSampler("uniform", n_items=11)
    # Q = 1/10 over ids 1..10.
    np.testing.assert_allclose(np.asarray(uniform.log_q(np.array([1, 10]))), np.log(0.1), 1e-6)


def test_reproducible_with_seed():
    a = NegativeSampler("popularity", counts=COUNTS, seed=42)
    b = NegativeSampler("popularity", counts=COUNTS, seed=42)
    first = np.asarray(a.sample(50))
    np.testing.assert_array_equal(first, np.asarray(b.sample(50)))
    # Successive draws differ (the seed generator advances).
    assert not np.array_equal(first, np.asarray(a.sample(50)))


def test_exclude_zero_false_may_draw_zero():
    sampler = NegativeSampler("uniform", n_items=2, exclude_zero=False, seed=0)
    ids = np.asarray(sampler.sample(200))
    assert set(np.unique(ids)) == {0, 1}


def test_call_returns_what_sampled_softmax_needs():
    sampler = NegativeSampler("popularity", counts=COUNTS, seed=1, num_samples=4)
    sampled, log_q_s, log_q_t = sampler(np.array([1, 2, 3]))
    assert tuple(sampled.shape) == (4,) and tuple(log_q_s.shape) == (4,)
    np.testing.assert_allclose(np.asarray(log_q_s), np.asarray(sampler.log_q(sampled)))
    np.testing.assert_allclose(np.asarray(log_q_t), np.log(sampler.probabilities[[1, 2, 3]]), 1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(distribution="zipf", n_items=3), "distribution must be one of"),
        (dict(distribution="popularity"), "needs counts"),
        (dict(n_items=1), "n_items must be ≥ 2"),
        (dict(counts=[0, -1, 2]), "counts must be finite and ≥ 0"),
        (dict(distribution="popularity", counts=[5, 0, 0]), "probability 0"),
        (dict(counts=[1, 2], n_items=3), "n_items=3 but counts has 2"),
        (dict(n_items=3, alpha=-1), "alpha must be"),
    ],
)
def test_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NegativeSampler(**kwargs)


def test_config_round_trip():
    sampler = NegativeSampler("popularity", alpha=0.5, counts=COUNTS, seed=3, num_samples=7)
    config = sampler.get_config()
    assert config["counts"] == COUNTS and isinstance(config["counts"], list)
    clone = NegativeSampler.from_config(config)
    np.testing.assert_array_equal(clone.probabilities, sampler.probabilities)
    np.testing.assert_array_equal(np.asarray(clone.sample(20)), np.asarray(sampler.sample(20)))


def test_model_save_and_load(tmp_path):
    targets = keras.Input(shape=(), dtype="int32")
    sampled, log_q_s, log_q_t = NegativeSampler(
        "popularity", counts=COUNTS, seed=5, num_samples=3, name="sampler"
    )(targets)
    model = keras.Model(targets, [sampled, log_q_s, log_q_t])
    path = os.path.join(tmp_path, "sampler.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # safe mode, no custom_objects
    assert isinstance(loaded.get_layer("sampler"), NegativeSampler)
    x = np.array([1, 2, 5], "int32")
    # Same seed-generator state after loading → identical draws and log Q.
    for got, want in zip(loaded(x), model(x)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_log_expected_counts_mixes_the_two_proposals():
    from hiertcn_keras.losses import log_expected_counts

    # Q = 0.01, M = 100, P = 0.02, n = 50: 1 + 1 expected draws; n = 0: M·Q alone; Q = P = 0: −inf.
    log_q, log_p = np.log(np.float32([0.01])), np.log(np.float32([0.02]))
    got = np.asarray(log_expected_counts(log_q, 100, log_p, np.float32(50)))
    np.testing.assert_allclose(got, np.log(2.0), atol=1e-6)
    none_in_batch = np.asarray(log_expected_counts(log_q, 100, log_p, np.float32(0)))
    np.testing.assert_allclose(none_in_batch, 0.0, atol=1e-6)
    never = np.asarray(log_expected_counts(np.float32([-np.inf]), 100, np.float32([-np.inf]), np.float32(5)))
    assert never[0] == -np.inf


def test_alias_tables_reproduce_the_distribution_exactly():
    from hiertcn_keras.losses.sampling import alias_tables

    rng = np.random.default_rng(0)
    for probs in (np.array([0.0, 0.5, 0.5]), np.array([0.0, 0.7, 0.0, 0.2, 0.1]),
                  np.r_[0.0, rng.random(999) ** 4]):
        probs = probs / probs.sum()
        keep, alias = alias_tables(probs)
        n = len(probs)
        # P(i) = (keep[i] + Σ_{j: alias[j] = i} (1 − keep[j])) / n, exactly.
        implied = (keep + np.bincount(alias, weights=1.0 - keep, minlength=n)) / n
        np.testing.assert_allclose(implied, probs, atol=1e-6)
        assert (keep[probs == 0] == 0).all() and (probs[alias[probs == 0]] > 0).all()


def test_popularity_draws_compiled_follow_q():
    # keras.random.categorical draws by Gumbel-max under XLA ([K, C] noise: seconds per step at
    # 1,024 × 42k); the alias draw is O(K) and compiles to the same distribution.
    import tensorflow as tf

    sampler = NegativeSampler("popularity", alpha=0.75, counts=COUNTS, seed=0)
    ids = np.asarray(tf.function(lambda: sampler.sample(20000), jit_compile=True)())
    observed = np.bincount(ids, minlength=6)
    assert observed[0] == 0 and observed[4] == 0
    expected = 20000 * sampler.probabilities
    live = expected > 0
    assert ((observed[live] - expected[live]) ** 2 / expected[live]).sum() < 16.27  # χ², 3 dof, 99.9%
