"""Tests for the synthetic click-log generator and its oracle."""

import json
import pathlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data import synthetic, synthetic_io, synthetic_oracle
from hiertcn_keras.data.synthetic import SyntheticConfig, generate
from hiertcn_keras.data.synthetic_io import load_generator, save
from hiertcn_keras.data.synthetic_oracle import oracle_metrics

SMALL = SyntheticConfig(n_users=200, n_items=120, n_topics=6, seed=3)


@pytest.fixture(scope="module")
def default_log():
    return generate(SyntheticConfig())


@pytest.fixture(scope="module")
def by_user(default_log):
    """The oracle frame in (user, time) order with a within-session 'next row' mask."""
    frame = default_log.oracle.sort_values(["user_id", "timestamp"], kind="stable")
    frame = frame.reset_index(drop=True)
    same = (frame["user_id"].to_numpy()[1:] == frame["user_id"].to_numpy()[:-1]) & (
        frame["true_session"].to_numpy()[1:] == frame["true_session"].to_numpy()[:-1]
    )
    return frame, same


def sessionize(frame, gap):
    """Reference sessionizer: a new session where the idle gap is ≥ `gap` or the user changes."""
    frame = frame.sort_values(["user_id", "timestamp"], kind="stable")
    new_user = frame["user_id"].diff().fillna(1).ne(0)
    new_session = new_user | frame["timestamp"].diff().ge(gap)
    session = new_session.astype(int).groupby(frame["user_id"]).cumsum() - 1
    return frame["true_session"].to_numpy(), session.to_numpy()


# --- determinism and validation -----------------------------------------------------------------


def test_same_seed_same_log_other_seed_other_log():
    a, b = generate(SMALL), generate(SMALL)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.oracle, b.oracle)
    np.testing.assert_array_equal(a.successor, b.successor)
    c = generate(SyntheticConfig(n_users=200, n_items=120, n_topics=6, seed=4))
    assert not a.events.equals(c.events)


def test_oracle_does_not_change_the_log():
    # The oracle draws no random numbers, so skipping it gives the very same clicks.
    with_oracle, without = generate(SMALL), generate(SMALL, with_oracle=False)
    pd.testing.assert_frame_equal(with_oracle.events, without.events)
    assert "oracle_rank" not in without.oracle.columns
    np.testing.assert_array_equal(
        with_oracle.oracle["true_session"], without.oracle["true_session"]
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_users": 0}, "n_users must be ≥ 1, got 0"),
        ({"n_users": 2.5}, "n_users must be an int, got 2.5"),
        ({"n_users": True}, "n_users must be an int, got True"),
        ({"n_items": 39}, "n_items must be ≥ 2 * n_topics = 40"),
        ({"seed": -1}, "seed must be ≥ 0, got -1"),
        ({"p_successor": 1.2}, "p_successor must be in [0, 1], got 1.2"),
        ({"p_successor": 0.7, "p_noise": 0.4}, "p_successor + p_noise must be ≤ 1"),
        ({"alpha_user": 0.0}, "alpha_user must be > 0, got 0.0"),
        ({"drift": float("nan")}, "drift must be finite, got nan"),
        ({"mean_sessions": 0.5}, "mean_sessions must be ≥ 1, got 0.5"),
        ({"max_session_len": 0}, "max_session_len must be ≥ 1, got 0"),
        ({"max_click_gap_s": 1800}, "max_click_gap_s must be < session_gap_s = 1800"),
        ({"zipf_exponent": "1.1"}, "zipf_exponent must be a number, got '1.1'"),
    ],
)
def test_config_validation_echoes_the_value(kwargs, message):
    with pytest.raises(ValueError) as err:
        SyntheticConfig(**kwargs)
    assert message in str(err.value)


def test_generate_rejects_a_non_config():
    with pytest.raises(ValueError, match="config must be a SyntheticConfig, got dict"):
        generate({"n_users": 3})


# --- format ---------------------------------------------------------------------------------------


def test_format_and_catalogue(default_log):
    events, config = default_log.events, default_log.config
    assert list(events.columns) == ["user_id", "item_id", "timestamp"]
    assert all(dtype == np.int64 for dtype in events.dtypes)
    # Sorted like a real log: by time, then user; users interleave.
    keys = events[["timestamp", "user_id"]].to_numpy()
    assert (np.lexsort((keys[:, 1], keys[:, 0])) == np.arange(len(keys))).all()
    runs = 1 + int((events["user_id"].diff().fillna(0) != 0).sum())
    assert runs > 5 * config.n_users  # one run per user would mean a log grouped by user
    assert events["user_id"].between(1, config.n_users).all()
    assert events["item_id"].between(1, config.n_items).all()
    assert events["user_id"].nunique() == config.n_users
    pd.testing.assert_frame_equal(default_log.oracle[list(events.columns)], events)

    topic, succ, q = (default_log.item_topic, default_log.successor,
                      default_log.item_popularity_within_topic)
    assert topic[0] == -1 and succ[0] == 0 and q[0] == 0.0
    assert sorted(np.bincount(topic[1:])) == [50] * 20  # 1000 items / 20 topics
    # Successors stay in the topic and form a permutation without fixed points.
    assert (topic[succ[1:]] == topic[1:]).all()
    assert sorted(succ[1:]) == list(range(1, 1001)) and (succ[1:] != np.arange(1, 1001)).all()
    np.testing.assert_allclose(np.bincount(topic[1:], weights=q[1:]), np.ones(20))
    # Ids carry no topic: a contiguous id range mixes many topics.
    assert len(set(topic[1:51])) > 10


# --- sessions and time ----------------------------------------------------------------------------


def test_gap_rule_recovers_true_sessions(default_log):
    true, found = sessionize(default_log.oracle, gap=1800)
    np.testing.assert_array_equal(found, true)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    session_gap_s=st.integers(2, 4000),
    mean_click_gap_s=st.floats(1.0, 5000.0),
    mean_session_gap_s=st.floats(0.0, 10_000.0),
)
def test_gap_rule_recovers_true_sessions_for_any_gaps(
    seed, session_gap_s, mean_click_gap_s, mean_session_gap_s
):
    config = SyntheticConfig(
        n_users=30, n_items=20, n_topics=3, seed=seed, session_gap_s=session_gap_s,
        max_click_gap_s=session_gap_s - 1, mean_click_gap_s=mean_click_gap_s,
        mean_session_gap_s=mean_session_gap_s, span_days=0.01,
    )
    true, found = sessionize(generate(config, with_oracle=False).oracle, gap=session_gap_s)
    np.testing.assert_array_equal(found, true)


def test_session_counts_and_lengths(default_log):
    sizes = default_log.oracle.groupby(["user_id", "true_session"]).size()
    sessions = default_log.oracle.groupby("user_id")["true_session"].max() + 1
    assert sizes.max() == 40  # the cap is reached on the default config ...
    assert 0.01 < (sizes > 20).mean() < 0.05  # ... and a 20-item truncation bites (≈ (5/6)^20)
    assert sizes.mean() == pytest.approx(6.0, abs=0.2)  # geometric, mean 6, barely capped
    assert sessions.mean() == pytest.approx(8.0, abs=0.5)
    assert sessions.max() <= 60
    capped = generate(SyntheticConfig(n_users=100, max_session_len=3, max_sessions=2),
                      with_oracle=False).oracle
    assert capped.groupby(["user_id", "true_session"]).size().max() == 3
    assert capped["true_session"].max() == 1


def test_temporal_cut_leaves_users_on_both_sides(default_log):
    events = default_log.events
    spans = events.groupby("user_id")["timestamp"].agg(["min", "max"])
    for quantile in (0.8, 0.9):
        cut = events["timestamp"].quantile(quantile)
        both = ((spans["min"] < cut) & (spans["max"] >= cut)).sum()
        assert both >= 150  # measured 405 (80 %) and 197 (90 %) of 2000 users


# --- structure that hierarchy and order can exploit ----------------------------------------------


def test_popularity_is_heavy_tailed(default_log):
    counts = np.sort(np.bincount(default_log.events["item_id"], minlength=1001)[1:])[::-1]
    # Measured 0.42; a uniform catalogue would give 0.10.
    assert counts[:100].sum() / counts.sum() > 0.38


def test_successor_pairs_follow_p_successor(by_user, default_log):
    frame, same = by_user
    items = frame["item_id"].to_numpy()
    is_successor = default_log.successor[items[:-1]] == items[1:]
    # p_successor = 0.4 plus chance hits of the popularity draws (measured 0.409).
    assert is_successor[same].mean() == pytest.approx(0.4, abs=0.03)
    assert not (items[:-1] == items[1:])[same].any()  # popularity draws exclude the last item


def test_session_topics_persist(by_user, default_log):
    frame, _ = by_user
    frame = frame.assign(topic=default_log.item_topic[frame["item_id"].to_numpy()])
    counts = frame.groupby(["user_id", "true_session", "topic"]).size().reset_index(name="n")
    dominant = (counts.sort_values("n", ascending=False, kind="stable")
                .drop_duplicates(["user_id", "true_session"])
                .sort_values(["user_id", "true_session"]))
    previous = dominant.groupby("user_id")["topic"].shift()
    kept = dominant["topic"][previous.notna()] == previous[previous.notna()]
    share = dominant["topic"].value_counts(normalize=True)
    independent = float((share**2).sum())  # two θ-independent draws agree this often: ≈ 1/20
    # Measured 0.51 against 0.05.
    assert kept.mean() > 0.4 and kept.mean() > 5 * independent


# --- oracle ---------------------------------------------------------------------------------------


def test_oracle_ranks_beat_popularity(default_log):
    oracle, n_items = default_log.oracle, default_log.config.n_items
    ranks = oracle["oracle_rank"].to_numpy()
    assert ranks.min() >= 1 and ranks.max() <= n_items
    assert ((oracle["oracle_prob"] > 0) & (oracle["oracle_prob"] <= 1)).all()
    # Popularity over the same events, conservative ties.
    counts = np.bincount(oracle["item_id"], minlength=n_items + 1)[1:]
    clicked = counts[oracle["item_id"].to_numpy() - 1]
    pop_ranks = np.searchsorted(np.sort(-counts), -clicked, side="right")
    pop = oracle_metrics(pd.DataFrame({"oracle_rank": pop_ranks}))
    best = oracle_metrics(oracle)
    assert best["recall@10"] > 0.65 and pop["recall@10"] < 0.12  # measured 0.707 vs 0.088
    assert best["mrr"] > 5 * pop["mrr"]  # measured 0.485 vs 0.040


def _one_step_frequencies(config, cat, theta, topic, prev, first, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    sess = np.arange(n)
    intent = np.full(n, topic, dtype=np.int64)
    prev_items = np.full(n, prev, dtype=np.int64)
    clicked = synthetic._draw_step(rng, config, cat, sess, intent, prev_items,
                                   np.tile(theta, (n, 1)), first)
    return np.bincount(clicked, minlength=config.n_items) / n


@pytest.mark.parametrize("first", [False, True])
def test_oracle_matches_the_sampler(first):
    # A NumPy reference for the oracle: the empirical next-click frequencies of the sampler
    # from one fixed latent state must match the oracle's distribution.
    config = SyntheticConfig(n_items=12, n_topics=3, p_intent_switch=0.3, p_noise=0.2)
    cat = synthetic._make_catalogue(config, np.random.default_rng(1))
    theta = np.array([0.2, 0.7, 0.1])
    prev, topic = 1, 0  # previous item 1 (topic 0), current intent topic 0
    freq = _one_step_frequencies(config, cat, theta, topic, -1 if first else prev, first)
    # Inside a session the intent may switch; at a start, topic 0 is already drawn.
    pi = (synthetic._intent_mixture(config, theta[None], np.array([topic]), False) if not first
          else np.eye(3)[[topic]])
    probs = synthetic_oracle.next_click_probs(cat, config, pi, np.array([prev]), first)[0]
    assert probs.sum() == pytest.approx(1.0)
    if not first:
        assert probs[prev] == 0.0 and freq[prev] == 0.0
    # Binomial standard error at n = 200000 is ≤ 0.0012; allow 5 of them.
    np.testing.assert_allclose(freq, probs, atol=0.006)


def test_session_start_mixture():
    config = SyntheticConfig(p_repeat_topic=0.5)
    theta = np.array([[0.25, 0.75], [0.25, 0.75]])
    pi = synthetic._intent_mixture(config, theta, np.array([1, -1]), True)
    # Repeat topic 1 with 0.5, else θ: [0.5 * 0.25, 0.5 + 0.5 * 0.75]; no previous session: θ.
    np.testing.assert_allclose(pi, [[0.125, 0.875], [0.25, 0.75]])


def test_oracle_metrics_by_hand():
    frame = pd.DataFrame({"oracle_rank": [1, 2, 40, 5]})
    # recall@1 = 1/4, recall@5 = 3/4; mrr = (1 + 1/2 + 1/40 + 1/5) / 4 = 0.43125.
    assert oracle_metrics(frame, ks=(1, 5)) == {
        "recall@1": 0.25, "recall@5": 0.75, "mrr": pytest.approx(0.43125), "n_events": 4,
    }
    # Only rows 2 and 3: ranks 2 and 40 → recall@5 = 1/2, mrr = (1/2 + 1/40) / 2 = 0.2625.
    mask = np.array([False, True, True, False])
    assert oracle_metrics(frame, ks=(5,), mask=mask) == {
        "recall@5": 0.5, "mrr": pytest.approx(0.2625), "n_events": 2,
    }


def test_oracle_metrics_errors():
    with pytest.raises(ValueError, match="with_oracle=True"):
        oracle_metrics(pd.DataFrame({"user_id": [1]}))
    with pytest.raises(ValueError, match="mask must be a bool array of shape"):
        oracle_metrics(pd.DataFrame({"oracle_rank": [1, 2]}), mask=[1, 0])
    with pytest.raises(ValueError, match="no rows to score"):
        oracle_metrics(pd.DataFrame({"oracle_rank": [1]}), mask=np.array([False]))


# --- saving ---------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    log = generate(SMALL)
    path = save(log, tmp_path / "run" / "log.csv")
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["log.csv", "log.generator.json", "log.oracle.parquet"]  # no temp files
    assert path.read_text().splitlines()[0] == "user_id,item_id,timestamp"
    meta = json.loads((path.parent / "log.generator.json").read_text())
    assert meta["format_version"] == synthetic_io.FORMAT_VERSION and meta["config"]["seed"] == 3

    back = load_generator(path)
    assert back.config == log.config
    pd.testing.assert_frame_equal(back.events, log.events)
    pd.testing.assert_frame_equal(back.oracle, log.oracle)
    for name in ("item_topic", "successor", "item_popularity_within_topic"):
        np.testing.assert_array_equal(getattr(back, name), getattr(log, name))


def test_failed_save_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    log = generate(SMALL, with_oracle=False)
    path = save(log, tmp_path / "log.csv")
    before = path.read_bytes()

    def broken_write_csv(events, target):
        pathlib.Path(target).write_text("user_id,item_id,timestamp\n1,")
        raise OSError("disk full")

    monkeypatch.setattr(synthetic_io, "_write_csv", broken_write_csv)
    with pytest.raises(OSError, match="disk full"):
        save(log, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "log.csv", "log.generator.json", "log.oracle.parquet"
    ]


def test_load_rejects_missing_or_foreign_sidecars(tmp_path):
    path = save(generate(SMALL, with_oracle=False), tmp_path / "log.csv")
    meta_path = tmp_path / "log.generator.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(DataError, match="version 99"):
        load_generator(path)
    meta_path.unlink()
    with pytest.raises(DataError, match="log.generator.json: missing"):
        load_generator(path)


def test_load_rejects_an_edited_csv(tmp_path):
    path = save(generate(SMALL, with_oracle=False), tmp_path / "log.csv")
    lines = path.read_text().splitlines()
    user, item, time = lines[3].split(",")
    lines[3] = f"{user},{int(item) % 120 + 1},{time}"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="row 3, column 'item_id'"):
        load_generator(path)
