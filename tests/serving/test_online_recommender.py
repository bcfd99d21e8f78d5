"""The online path equals the offline batch model, event by event (the issue's equivalence).

Offline: `evaluate_recommender`'s path — the prepared dataset's full-history view through the
queue batcher (B = 2 rows, S = 2 sessions per batch, the high-level state carried between
batches), `predict_on_batch`, giving u for every kept event. Online: the RAW log, in global
time order (users interleaved), through `observe`, with `recommend(at=t)` asked just before
each event. For every kept event the online embedding the event was predicted with, and the
embedding + top-5 that `recommend` gave just before it, equal the offline ones (embeddings and
scores to 1e-5, items exactly; the reference top-K is a full sort of all catalogue scores).
The raw log includes truncated sessions, a duplicate, and users whose sessions straddle the
temporal cuts, so the online session rule must agree with `prepare` for the counts to line up.
"""

import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.serving.item_catalog import UnknownItemError
from hiertcn_keras.serving.online_recommender import OnlineRecommender
from hiertcn_keras.serving.sessionizer import OutOfOrderError
from hiertcn_keras.training.evaluate import batcher_for
from hiertcn_keras.training.trainer import load_run

K = 5


def offline_embeddings(run_dir, data_dir):
    """Per user id: offline u `[n_kept_events, E]` in time order."""
    model, _ = load_run(run_dir)
    dataset = PreparedDataset(data_dir)
    view = dataset.view("test", scored_users_only=False)  # temporal: every event of every user
    model.reset_states()
    per_user = {}
    for batch in batcher_for(model.model_config, view).batches():
        u = np.asarray(model.predict_on_batch(batch))
        for b, s, p in zip(*np.nonzero(batch["mask"])):  # row-major: slots, then positions, in order
            per_user.setdefault(int(batch["user"][b, s]), []).append(u[b, s, p])
    ids = dataset.users["id"].astype(str).tolist()
    return {ids[k - 1]: np.stack(v) for k, v in per_user.items()}, model


def reference_top(u, table, bias, k):
    scores = table[1:] @ u + (0 if bias is None else bias[1:])
    order = np.lexsort((np.arange(len(scores)), -scores))[:k]
    return order + 1, scores[order]


@pytest.mark.parametrize("space", ["learned", "pretrained"])
def test_online_equals_offline_per_event(space, learned_run, pretrained_run, item_store, serving_data_dir,
                                         raw_log_rows, tmp_path):
    run_dir = learned_run if space == "learned" else pretrained_run
    offline, model = offline_embeddings(run_dir, serving_data_dir)
    rec = OnlineRecommender.open(run_dir, items=item_store if space == "pretrained" else None,
                                 store=f"sqlite:{tmp_path / 'users.sqlite'}")
    table, bias = (np.asarray(t) if t is not None else None for t in model.item_table())
    online_prior, online_before, statuses = {}, {}, []
    for user, item, t in raw_log_rows:
        before = rec.recommend(user, k=K, exclude_seen=False, at=t)
        obs = rec.observe(user, item, t)
        statuses.append(obs.status)
        if obs.prior_embedding is not None:
            online_prior.setdefault(user, []).append(obs.prior_embedding)
            online_before.setdefault(user, []).append(before)
    assert statuses.count("duplicate") == 1 and statuses.count("truncated") == 11  # prepare's counts
    assert set(online_prior) == set(offline) and len(offline) == 6
    events = PreparedDataset(serving_data_dir).events
    straddling = [u for u in np.unique(events["user"]) if len(np.unique(events["split"][events["user"] == u])) > 1]
    assert len(straddling) >= 3  # users whose sessions straddle the temporal cuts are in the check
    for user, reference in offline.items():
        prior = np.stack(online_prior[user])
        assert prior.shape == reference.shape  # the same kept events, session by session
        np.testing.assert_allclose(prior, reference, atol=1e-5, rtol=0)
        for recs, u in zip(online_before[user], reference):
            np.testing.assert_allclose(recs.embedding, u, atol=1e-5, rtol=0)
            items, scores = reference_top(u, table, bias, K)
            np.testing.assert_array_equal(recs.indices, items)
            np.testing.assert_allclose(recs.scores, scores, atol=1e-5, rtol=0)
    rec.close()


def test_observation_embedding_ranks_the_next_item(learned_run, tmp_path, compiled_steps):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path / 'u.sqlite'}",
                                 step=compiled_steps(learned_run))
    first = rec.observe("new-user", "i1", 100.0)
    assert first.status == "new_session" and first.position == 0
    second = rec.observe("new-user", "i2", 160.0)
    np.testing.assert_allclose(second.prior_embedding, first.embedding, atol=1e-6)
    recs = rec.recommend("new-user", k=3)
    np.testing.assert_allclose(recs.embedding, second.embedding, atol=1e-6)
    assert not {"i1", "i2"} & set(recs.items)  # exclude_seen drops the open session's items
    assert len(recs.items) == 3 and np.all(np.diff(recs.scores) <= 0)


def test_unknown_users_start_from_zero_and_unknown_items_are_rejected_or_skipped(learned_run, tmp_path,
                                                                                compiled_steps):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path / 'u.sqlite'}",
                                 step=compiled_steps(learned_run))
    assert not rec.state_of("nobody").context.any()
    with pytest.raises(UnknownItemError, match="no-such-item"):
        rec.observe("a", "no-such-item", 1.0)
    assert rec.store.get("a") is None  # nothing written
    rec.unknown_items = "skip"
    assert rec.observe("a", "no-such-item", 1.0).status == "unknown_item"
    assert rec.counters["skipped_unknown_item"] == 1 and rec.store.get("a") is None


def test_out_of_order_policies(learned_run, tmp_path, compiled_steps):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path / 'u.sqlite'}",
                                 step=compiled_steps(learned_run))
    rec.observe("a", "i1", 1000.0)
    with pytest.raises(OutOfOrderError, match="older"):
        rec.observe("a", "i2", 999.0)
    rec.out_of_order = "skip"
    assert rec.observe("a", "i2", 999.0).status == "out_of_order"
    rec.out_of_order = "clamp"
    obs = rec.observe("a", "i2", 10.0)  # processed as if at 1000 s: same session, position 1
    assert obs.status == "kept" and obs.position == 1
    state = rec.state_of("a")
    assert state.last_timestamp == 1000.0 and state.n_events == 2


def test_states_of_another_model_are_never_mixed_in(learned_run, pretrained_run, item_store, tmp_path, compiled_steps):
    url = f"sqlite:{tmp_path / 'shared.sqlite'}"
    one = OnlineRecommender.open(learned_run, store=url, step=compiled_steps(learned_run))
    one.observe("a", "i1", 1.0)
    other = OnlineRecommender.open(pretrained_run, items=item_store, store=url,
                                   step=compiled_steps(pretrained_run))
    assert other.store.get("a") is None and one.store.get("a") is not None
    assert one.run.fingerprint != other.run.fingerprint


def test_faiss_recall_is_measured_on_the_models_own_user_embeddings(learned_run, tmp_path, compiled_steps):
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    rec = OnlineRecommender.open(learned_run, store="memory:", retrieval="hnsw", retrieval_options={"threads": 1},
                                 step=compiled_steps(learned_run))
    report = rec.retriever.report
    assert report["recall_query_source"] == "given queries" and report["n_recall_queries"] == 1000
    assert report["recall@10"] == 1.0  # 15 items, ef_search 256: the search is exhaustive
    rec.observe("f", "i1", 1.0)
    exact = OnlineRecommender(rec.run, rec.catalog, rec.store)  # same state, exact retrieval
    assert rec.recommend("f", 5).items == exact.recommend("f", 5).items


def test_a_recall_target_calibrates_on_thousands_of_new_and_returning_users(pretrained_run, item_store):
    """Under a recall target the index is calibrated on half of `RECALL_QUERIES_CALIBRATED`
    sampled user vectors (the margin narrows with their number) and reported on the other half;
    the sample mixes new users (zero state) with returning ones (sessions folded first), through
    the served update itself."""
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    from hiertcn_keras.serving.online_recommender import RECALL_QUERIES_CALIBRATED

    rec = OnlineRecommender.open(pretrained_run, items=item_store, store="memory:", retrieval="ivf", step="numpy",
                                 retrieval_options={"threads": 1, "nlist": 2, "recall_target": 0.9})
    report = rec.retriever.report
    assert report["n_calibration_queries"] == report["n_recall_queries"] == RECALL_QUERIES_CALIBRATED // 2
    calls, step = [], rec.step

    class Spy:
        def many(self, contexts, finished, gaps, sessions):
            calls.append((np.array(contexts), list(finished), list(sessions)))
            return step.many(contexts, finished, gaps, sessions)

    rec.step = Spy()
    queries = rec.sample_queries(n=16, batch=4)  # four blocks: new users, then returning ones
    assert queries.shape == (16, rec.model.output_dim) and np.isfinite(queries).all()
    folds = [call for call in calls if any(f is not None for f in call[1])]
    reads = [call for call in calls if all(f is None for f in call[1])]
    assert len(reads) == 4 and all(all(len(s) >= 1 for s in call[2]) for call in reads)
    assert not reads[0][0].any()  # new users: the zero state
    assert all(np.abs(call[0]).sum(axis=1).min() > 0 for call in reads[1:])  # returning: a folded context each
    assert len(folds) >= 3 and all(all(len(s) == 0 for s in call[2]) for call in folds)
    rec.step = step
    np.testing.assert_array_equal(rec.sample_queries(n=16, batch=4), queries)  # seeded


class CountingStore:
    """A store wrapper counting reads and writes."""

    def __init__(self, inner):
        self.inner, self.gets, self.reads, self.writes = inner, 0, 0, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def get(self, user):
        self.gets += 1
        self.reads += 1
        return self.inner.get(user)

    def get_many(self, users):
        users = list(users)
        self.gets += len(users)  # users read
        self.reads += 1  # reads of the store
        return self.inner.get_many(users)

    def put(self, user, state, version):
        self.writes.append([user])
        return self.inner.put(user, state, version)

    def put_many(self, updates):
        self.writes.append([u for u, _, _ in updates])
        return self.inner.put_many(updates)


def test_a_batch_reads_and_writes_each_user_once_and_equals_event_by_event(learned_run, tmp_path, compiled_steps):
    events = [("p", "i1", 10.0), ("q", "i2", 11.0), ("p", "i3", 20.0), ("p", "i4", 9000.0), ("q", "i5", 30.0),
              ("p", "i4", 9000.0)]
    one = OnlineRecommender.open(learned_run, store="memory:", step=compiled_steps(learned_run))
    single = [one.observe(*e) for e in events]
    rec = OnlineRecommender.open(learned_run, store="memory:", step=compiled_steps(learned_run))
    rec.store = counting = CountingStore(rec.store)
    result = rec.observe_batch(events)
    assert result.error is None and counting.gets == 2 and counting.writes == [["p", "q"]]
    assert counting.reads == 1  # both users in one read of the store
    assert [o.status for o in result.observations] == [o.status for o in single] == [
        "new_session", "new_session", "kept", "new_session", "kept", "duplicate"]
    for a, b in zip(result.observations, single):
        if b.embedding is not None:
            np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-6)
    for user in "pq":  # p: two sessions, two rounds (rows of 4); q: one session, one row in the first
        np.testing.assert_allclose(rec.state_of(user).context, one.state_of(user).context, atol=1e-6, rtol=0)
        assert rec.state_of(user).session == one.state_of(user).session
    assert rec.counts()["accepted"] == 5 and rec.counts()["skipped_duplicate"] == 1


def test_the_raw_log_in_batches_equals_event_by_event(learned_run, raw_log_rows, compiled_steps):
    """Batches of 7 events of the interleaved raw log (several users per batch, folds, repeated
    users: several rounds of batched updates) give the event-by-event numbers and states."""
    one = OnlineRecommender.open(learned_run, store="memory:", step=compiled_steps(learned_run))
    single = [one.observe(*row) for row in raw_log_rows]
    rec = OnlineRecommender.open(learned_run, store="memory:", step=compiled_steps(learned_run))
    batched = []
    for start in range(0, len(raw_log_rows), 7):
        result = rec.observe_batch(raw_log_rows[start : start + 7])
        assert result.error is None
        batched.extend(result.observations)
    assert [o.status for o in batched] == [o.status for o in single]
    assert sum(o.status == "new_session" for o in single) > 10
    for a, b in zip(batched, single):
        assert a.position == b.position and a.session == b.session
        for x, y in ((a.embedding, b.embedding), (a.prior_embedding, b.prior_embedding)):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_allclose(x, y, atol=1e-5, rtol=0)
    for user in {row[0] for row in raw_log_rows}:
        mine, theirs = rec.state_of(user), one.state_of(user)
        np.testing.assert_allclose(mine.context, theirs.context, atol=1e-5, rtol=0)
        assert (mine.session, mine.n_events, mine.n_sessions) == (theirs.session, theirs.n_events, theirs.n_sessions)


def test_a_batch_stops_at_a_rejected_event_and_writes_what_came_before(learned_run, compiled_steps):
    rec = OnlineRecommender.open(learned_run, store="memory:", step=compiled_steps(learned_run))
    result = rec.observe_batch([("r", "i1", 10.0), ("s", "i2", 10.0), ("r", "nope", 11.0), ("s", "i3", 12.0)])
    assert len(result.observations) == 2 and result.error[0] == 2 and isinstance(result.error[1], UnknownItemError)
    assert rec.state_of("r").session and rec.state_of("s").n_events == 1  # event 3 was not applied
    result = rec.observe_batch([("s", "i3", 13.0), ("s", "i4", -1.0)])
    assert result.error[0] == 1 and "≥ 0" in str(result.error[1]) and rec.state_of("s").n_events == 2


@pytest.mark.parametrize("timestamp,words", [(-5.0, "≥ 0"), (1e300, "≤"), (1.7e12, "milliseconds"),
                                             (float("nan"), "finite"), (10**400, "digit")])
def test_implausible_timestamps_are_refused(learned_run, timestamp, words, compiled_steps):
    rec = OnlineRecommender.open(learned_run, store="memory:", step=compiled_steps(learned_run))
    with pytest.raises(ValueError, match=words):
        rec.observe("t", "i1", timestamp)
    assert rec.store.get("t") is None


def test_reset_forgets_a_user(learned_run, compiled_steps):
    rec = OnlineRecommender.open(learned_run, store="memory:", step=compiled_steps(learned_run))
    rec.observe("z", "i1", 5000.0)
    with pytest.raises(OutOfOrderError):
        rec.observe("z", "i2", 10.0)
    assert rec.reset("z") and not rec.reset("z")
    assert rec.observe("z", "i2", 10.0).status == "new_session" and rec.counts()["users_reset"] == 1


def test_the_default_user_store_is_outside_the_run_folder(learned_run, tmp_path, monkeypatch):
    from hiertcn_keras.serving.online_recommender import default_store_path

    monkeypatch.setenv("HIERTCN_STATE_HOME", str(tmp_path / "state"))
    path = default_store_path(learned_run)
    assert path.parent.parent == tmp_path / "state" / "serving" and path.name == "users.sqlite"
    assert path.parent.name.startswith(learned_run.name + "-")
    assert learned_run.resolve() not in path.resolve().parents
    rec = OnlineRecommender.open(learned_run)
    assert rec.store.path == path
    rec.close()
    monkeypatch.delenv("HIERTCN_STATE_HOME")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_store_path(learned_run).is_relative_to(tmp_path / "xdg" / "hiertcn" / "serving")
