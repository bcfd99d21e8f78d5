"""The recency prior served online (`OnlineRecommender` with a `ClickWindow`) equals the evaluation's.

A pretrained-space HierTCN trained with the prior fixed (window 3 h, beta 2) on the serving
fixtures' data, over an item store where items come in twins (identical vectors: their
u · v tie exactly, so only the click counts, then the index, order them). The raw log is
replayed online in global time order, and just before each event its user's full-catalogue
ranking is asked for `at` the event's time. For every scored test event, the served scores
of all catalogue items equal the evaluation's (`scored_queries` + `RecencyPrior.offsets`, the
path of `evaluate_recommender`) to 1e-5, and the served order is the evaluation's order (score
descending, index ascending for exact ties).
"""

import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.recency_prior import prior_of
from hiertcn_keras.serving.click_window import warm_from_dataset
from hiertcn_keras.serving.online_recommender import OnlineRecommender
from hiertcn_keras.serving.user_store_url import open_user_store
from hiertcn_keras.training.evaluate import scored_queries, scoring_table
from hiertcn_keras.training.trainer import load_run

from .conftest import PRIOR_BETA as BETA
from .conftest import pooled_replay
from .conftest import PRIOR_HOURS as HOURS


@pytest.fixture(scope="module")
def served(prior_run, twin_store):
    """The prior run opened once; `fresh(served)` gives recommenders sharing its compiled steps."""
    return OnlineRecommender.open(prior_run, items=twin_store, store="memory:")


def fresh(served, **kwargs):
    """A new recommender of the same run: empty user store, its own click window (unless given)."""
    return OnlineRecommender(served.run, served.catalog, open_user_store("memory:", served.run.fingerprint),
                             step=(served.model, served.step), **kwargs)


def evaluation_scores(run_dir, data_dir):
    """`{(user id, view time, target): full-catalogue scores [C + 1]}` as `evaluate_recommender` computes them."""
    model, _ = load_run(run_dir)
    dataset = PreparedDataset(data_dir)
    view = dataset.view("test")
    table, bias, _ = scoring_table(model)
    prior = prior_of(model.model_config, dataset)
    assert prior is not None and prior.hours == HOURS and prior.beta == BETA
    ids = dataset.users["id"].astype(str).tolist()
    out = {}
    for u, targets, users, events in scored_queries(model, view):
        scores = u @ table.T + prior.offsets(view, events)
        if bias is not None:
            scores += bias
        for row, (user, event) in enumerate(zip(users, events)):
            out[(ids[user - 1], float(view.timestamp[event]), int(targets[row]))] = scores[row]
    return out, dataset


def test_served_scores_equal_the_evaluations_with_the_prior(prior_run, served, serving_data_dir, raw_log_rows):
    expected, dataset = evaluation_scores(prior_run, serving_data_dir)
    replay, left_out = pooled_replay(dataset, raw_log_rows)
    assert left_out  # the case exists on this log
    rec = fresh(served)
    assert rec.clicks is not None and rec.clicks.hours == HOURS and rec.recency_beta == BETA
    n = rec.catalog.n_catalogue
    n_expected = len(expected)
    checked, twin_ties, twin_split = 0, 0, 0
    for user, item, t in replay:
        index = rec.catalog.index_of_one(item)
        key = (user, float(t), index)
        if key in expected:
            recs = rec.recommend(user, k=n, exclude_seen=False, at=t)
            served = np.full(n + 1, np.nan, np.float32)
            served[recs.indices] = recs.scores
            reference = expected.pop(key)
            np.testing.assert_allclose(served[1:], reference[1:], atol=1e-5, rtol=0)
            order = np.lexsort((np.arange(1, n + 1), -reference[1:])) + 1
            np.testing.assert_array_equal(recs.indices, order)  # ties (twins, equal counts) by index
            counts = rec.clicks.dense_counts(t)
            for a in range(1, n, 2):
                if counts[a] == counts[a + 1]:
                    assert served[a] == served[a + 1]
                    twin_ties += 1
                else:  # the more-clicked twin scores higher
                    assert (served[a] > served[a + 1]) == (counts[a] > counts[a + 1])
                    twin_split += 1
            checked += 1
        rec.observe(user, item, t)
    assert not expected and checked == n_expected >= 5  # every scored test event was met online
    assert twin_ties > 0 and twin_split > 0  # exact ties and ties broken by the counts both occurred


def test_the_prior_can_be_turned_off(served):
    rec = fresh(served, recency=None)
    assert rec.clicks is None and rec.recency_boost() is None and rec.recency_report() is None
    rec.observe("x", rec.catalog.item_ids[1], 100.0)
    plain = rec.recommend("x", k=3, exclude_seen=False)
    np.testing.assert_allclose(plain.scores, np.sort(rec.catalog.table[1:] @ plain.embedding)[::-1][:3], atol=1e-5)
    with pytest.raises(ValueError, match="recency must be"):
        fresh(served, recency="yes")


def test_only_kept_events_are_counted_after_they_are_written(served):
    rec = fresh(served)
    a, b = rec.catalog.item_ids[1], rec.catalog.item_ids[2]
    statuses = [rec.observe("x", a, 100.0).status, rec.observe("x", a, 100.0).status,  # an exact duplicate
                rec.observe("y", b, 50.0).status]
    assert statuses == ["new_session", "duplicate", "new_session"]
    assert rec.clicks.dense_counts(None)[1:3].tolist() == [1, 1]
    assert rec.counts()["recency_counted"] == 2
    result = rec.observe_batch([("z", a, 200.0), ("z", "no-such-item", 201.0)])  # stops at the unknown item
    assert result.error is not None and rec.clicks.dense_counts(None)[1] == 2
    top = rec.recommend("new-user", k=rec.catalog.n_catalogue, exclude_seen=False)
    score = dict(zip(top.indices.tolist(), top.scores.tolist()))  # items 1 and 2 are twins: 2 clicks against 1
    assert score[1] - score[2] == pytest.approx(BETA * (np.log1p(2) - np.log1p(1)), abs=1e-5)
    assert rec.recency_report()["events_kept"] == 3


def test_faiss_with_the_prior_rescores_the_hot_items_and_matches_exact(served, raw_log_rows):
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    exact = fresh(served)
    options = {"nlist": 2, "threads": 1, "train_per_cell": 39}
    queries = served.sample_queries(n=50)
    everywhere, one_cell = (OnlineRecommender(exact.run, exact.catalog, exact.store, retrieval="ivf",
                                              recency=exact.clicks, step=(served.model, served.step),
                                              retrieval_options={**options, "nprobe": p, "recall_queries": queries})
                            for p in (2, 1))
    for user, item, t in raw_log_rows[:60]:
        exact.observe(user, item, t)
    hot, _, _ = exact.clicks.counts_at(None)
    n = exact.catalog.n_catalogue
    assert 0 < len(hot) < n
    users = sorted({row[0] for row in raw_log_rows[:60]})
    missed = 0
    for user in users:
        want, got = exact.recommend(user, k=5), everywhere.recommend(user, k=5)  # every cell probed: exact
        # The same ranking up to exact ties: at each position the returned item's exact score is the
        # exact ranking's score there (two items with equal scores may swap, even at the k-th place).
        every = exact.recommend(user, k=n)
        exact_of = dict(zip(every.items, every.scores.tolist()))
        assert len(set(got.items)) == len(got.items) == len(want.items)
        np.testing.assert_allclose([exact_of[i] for i in got.items], want.scores, atol=1e-5, rtol=0)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5, rtol=0)
        # One cell of two: the cold items of the other cell are missed, never a hot item, and
        # what is returned is scored exactly and ordered as the exact ranking orders it.
        full = exact.recommend(user, k=n, exclude_seen=False)
        approx = one_cell.recommend(user, k=n, exclude_seen=False)
        assert set(hot.tolist()) <= set(approx.indices.tolist())
        exact_score = dict(zip(full.indices.tolist(), full.scores.tolist()))
        np.testing.assert_allclose(approx.scores, [exact_score[i] for i in approx.indices.tolist()],
                                   atol=1e-5, rtol=0)
        assert np.all(np.diff(approx.scores) <= 1e-5)  # exact scores in the exact order (up to ties)
        missed += n - len(approx.indices)
    assert missed > 0  # the approximate index did leave cold items out


def test_warm_start_counts_the_datasets_tail(served, serving_data_dir):
    rec = fresh(served)
    report = warm_from_dataset(rec.clicks, rec.catalog, serving_data_dir)
    events = PreparedDataset(serving_data_dir).events
    newest = float(events["timestamp"].max())
    recent = events["timestamp"] >= newest - HOURS * 3600
    in_catalogue = events["item"] <= rec.catalog.n_catalogue
    assert report["to"] == newest and report["events"] >= int((recent & in_catalogue).sum())
    assert report["skipped_items"] >= 1  # the item "late" is in the vocabulary, not in the catalogue
    expected = np.bincount(events["item"][recent & in_catalogue], minlength=rec.catalog.n_catalogue + 1)
    np.testing.assert_array_equal(rec.clicks.dense_counts(None), expected)


def test_http_healthz_reports_the_prior_and_at_ends_its_window(served):
    from fastapi.testclient import TestClient

    from hiertcn_keras.serving.http_server import create_app

    rec = fresh(served)
    a, b = rec.catalog.item_ids[1], rec.catalog.item_ids[2]  # twins: only the prior tells them apart

    def scores(client, at=None):
        query = "" if at is None else f"&at={at}"
        got = client.get(f"/users/new/recommendations?k=15&exclude_seen=false{query}").json()["items"]
        return {x["item"]: x["score"] for x in got}

    with TestClient(create_app(rec)) as client:
        body = {"events": [{"user": "p", "item": a, "timestamp": 1000}, {"user": "q", "item": a, "timestamp": 1001}]}
        assert client.post("/events", json=body).json()["accepted"] == 2
        now, before = scores(client), scores(client, at=1001)  # now: both clicks; at 1001: the one before it
        assert now[a] - now[b] == pytest.approx(BETA * np.log1p(2), abs=1e-5)
        assert before[a] - before[b] == pytest.approx(BETA * np.log1p(1), abs=1e-5)
        assert client.post("/events", json={"user": "q", "item": b, "timestamp": 20000}).json()["accepted"] == 1
        later = scores(client)  # a's clicks left the 3 h window
        assert later[b] - later[a] == pytest.approx(BETA * np.log1p(1), abs=1e-5)
        health = client.get("/healthz").json()["recency"]
        assert health["hours"] == HOURS and health["beta"] == BETA and health["newest"] == 20000
        assert health["events_kept"] == 1  # the old clicks were dropped from memory
