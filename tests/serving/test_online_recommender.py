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


def test_observation_embedding_ranks_the_next_item(learned_run, tmp_path):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path / 'u.sqlite'}")
    first = rec.observe("new-user", "i1", 100.0)
    assert first.status == "new_session" and first.position == 0
    second = rec.observe("new-user", "i2", 160.0)
    np.testing.assert_allclose(second.prior_embedding, first.embedding, atol=1e-6)
    recs = rec.recommend("new-user", k=3)
    np.testing.assert_allclose(recs.embedding, second.embedding, atol=1e-6)
    assert not {"i1", "i2"} & set(recs.items)  # exclude_seen drops the open session's items
    assert len(recs.items) == 3 and np.all(np.diff(recs.scores) <= 0)


def test_unknown_users_start_from_zero_and_unknown_items_are_rejected_or_skipped(learned_run, tmp_path):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path / 'u.sqlite'}")
    assert not rec.state_of("nobody").context.any()
    with pytest.raises(UnknownItemError, match="no-such-item"):
        rec.observe("a", "no-such-item", 1.0)
    assert rec.store.get("a") is None  # nothing written
    rec.unknown_items = "skip"
    assert rec.observe("a", "no-such-item", 1.0).status == "unknown_item"
    assert rec.counters["skipped_unknown_item"] == 1 and rec.store.get("a") is None


def test_out_of_order_policies(learned_run, tmp_path):
    rec = OnlineRecommender.open(learned_run, store=f"sqlite:{tmp_path / 'u.sqlite'}")
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


def test_states_of_another_model_are_never_mixed_in(learned_run, pretrained_run, item_store, tmp_path):
    url = f"sqlite:{tmp_path / 'shared.sqlite'}"
    one = OnlineRecommender.open(learned_run, store=url)
    one.observe("a", "i1", 1.0)
    other = OnlineRecommender.open(pretrained_run, items=item_store, store=url)
    assert other.store.get("a") is None and one.store.get("a") is not None
    assert one.run.fingerprint != other.run.fingerprint


def test_faiss_recall_is_measured_on_the_models_own_user_embeddings(learned_run, tmp_path):
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    rec = OnlineRecommender.open(learned_run, store="memory:", retrieval="hnsw", retrieval_options={"threads": 1})
    report = rec.retriever.report
    assert report["recall_query_source"] == "given queries" and report["n_recall_queries"] == 1000
    assert report["recall@10"] == 1.0  # 15 items, ef_search 256: the search is exhaustive
    rec.observe("f", "i1", 1.0)
    exact = OnlineRecommender(rec.run, rec.catalog, rec.store)  # same state, exact retrieval
    assert rec.recommend("f", 5).items == exact.recommend("f", 5).items
