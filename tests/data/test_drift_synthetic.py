import numpy as np
import pandas as pd
import pytest

from hiertcn_keras.data.drift_synthetic import KIND_REPEAT, DriftConfig, generate_drift

SMALL = DriftConfig(n_users=60, n_items=120, mean_sessions=4, seed=3)


def test_deterministic_by_seed_and_independent_of_the_oracle():
    a, b = generate_drift(SMALL), generate_drift(SMALL)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.oracle, b.oracle)
    without = generate_drift(SMALL, with_oracle=False)
    pd.testing.assert_frame_equal(without.events, a.events)
    assert "oracle_rank" not in without.oracle
    other = generate_drift(DriftConfig(n_users=60, n_items=120, mean_sessions=4, seed=4))
    assert not other.events.equals(a.events)


def test_log_format_sessions_and_births():
    log = generate_drift(SMALL)
    ev = log.events
    assert list(ev.columns) == ["user_id", "item_id", "timestamp"]
    assert ev["item_id"].between(1, 120).all() and ev["user_id"].between(1, 60).all()
    assert (np.diff(ev["timestamp"]) >= 0).all()
    # No click before its item's birth; about half the items exist from the start.
    assert (ev["timestamp"].to_numpy() >= log.item_birth[ev["item_id"]]).all()
    assert (log.item_birth[1:] == SMALL.start_time).sum() == 60
    # A 30-minute idle gap recovers the true sessions.
    o = log.oracle.sort_values(["user_id", "timestamp"], kind="stable")
    gap_start = np.r_[True, (np.diff(o["timestamp"]) >= 1800) | (np.diff(o["user_id"]) != 0)]
    true_start = np.r_[True, (np.diff(o["true_session"]) != 0) | (np.diff(o["user_id"]) != 0)]
    np.testing.assert_array_equal(gap_start, true_start)


def test_repeat_rate_matches_p_repeat():
    config = DriftConfig(n_users=300, n_items=200, p_repeat=0.3, p_chain=0.2, seed=5)
    o = generate_drift(config, with_oracle=False).oracle.sort_values(["user_id", "timestamp"], kind="stable")
    has_history = o.groupby("user_id").cumcount().to_numpy() > 0
    kind = o["click_kind"].to_numpy()
    rate = np.mean(kind[has_history] == KIND_REPEAT)
    n = has_history.sum()
    assert abs(rate - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)  # binomial, 4 standard errors
    # A repeat click is an item the user clicked before.
    seen = o.groupby("user_id")["item_id"].transform(lambda s: s.duplicated()).to_numpy()
    assert seen[kind == KIND_REPEAT].all()
    assert np.mean(kind == KIND_REPEAT) < np.mean(seen)  # other draws re-click too


def _session_similarity(config, lag):
    log = generate_drift(config, with_oracle=False)
    o = log.oracle
    vectors = log.item_vectors[o["item_id"]]
    frame = pd.DataFrame(vectors).assign(user=o["user_id"].to_numpy(), session=o["true_session"].to_numpy())
    means = frame.groupby(["user", "session"]).mean()
    means = means.div(np.linalg.norm(means.to_numpy(), axis=1), axis=0)
    later = means.copy()
    later.index = pd.MultiIndex.from_arrays([later.index.get_level_values(0), later.index.get_level_values(1) - lag])
    both = means.join(later, rsuffix="_later", how="inner")
    d = means.shape[1]
    return float((both.iloc[:, :d].to_numpy() * both.iloc[:, d:].to_numpy()).sum(axis=1).mean())


def test_interest_drifts_across_sessions():
    base = dict(n_users=300, n_items=300, mean_sessions=10, p_repeat=0.0, p_chain=0.0, sharpness=10.0,
                session_noise=0.2, freshness_days=0.0, initial_share=1.0, zipf_exponent=0.0, seed=2)
    drifting = DriftConfig(interest_drift=1.0, **base)
    stable = DriftConfig(interest_drift=0.0, **base)
    # With drift, sessions far apart agree less than neighbouring ones; without, about as much.
    assert _session_similarity(drifting, 1) - _session_similarity(drifting, 6) > 0.15
    assert abs(_session_similarity(stable, 1) - _session_similarity(stable, 6)) < 0.05


def test_oracle_of_a_uniform_log_is_known():
    # No repeats, chains, interest, popularity or births: every click has probability 1/50
    # and all 50 items tie, so the conservative rank is 50.
    config = DriftConfig(n_users=20, n_items=50, p_repeat=0.0, p_chain=0.0, sharpness=0.0, zipf_exponent=0.0,
                         initial_share=1.0, freshness_days=0.0, n_successors=2, seed=1)
    o = generate_drift(config).oracle
    np.testing.assert_allclose(o["oracle_prob"], 1 / 50)
    assert (o["oracle_rank"] == 50).all()


def test_oracle_probabilities_are_consistent():
    o = generate_drift(SMALL).oracle
    assert (o["oracle_rank"] >= 1).all() and (o["oracle_prob"] > 0).all() and (o["oracle_prob"] <= 1).all()
    # A successor click with p_chain 0.3 has probability at least 0.3 · (weight of its slot ≥ 1/7).
    chain = o["click_kind"] == 2
    assert (o.loc[chain, "oracle_prob"] >= 0.3 / 7 - 1e-12).all()


@pytest.mark.parametrize("bad, message", [
    (dict(p_repeat=0.8, p_chain=0.3), "p_repeat \\+ p_chain must be ≤ 1"),
    (dict(n_items=4, initial_share=0.5), "initial catalogue"),
    (dict(max_click_gap_s=1800), "max_click_gap_s must be <"),
    (dict(n_users=1.5), "n_users must be an integer"),
])
def test_bad_config(bad, message):
    with pytest.raises(ValueError, match=message):
        DriftConfig(**bad)
