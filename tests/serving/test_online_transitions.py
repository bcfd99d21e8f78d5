"""The transition prior served online (`OnlineRecommender` with a `TransitionCounter`) equals the evaluation's.

The recency-prior run of the serving fixtures (pretrained space over twin item vectors: twins'
u · v tie exactly) is served with the transition prior's weight set in its configuration as
the validation choice would set it (the prior is chosen after training: the weights are the
same). The raw log is replayed online in global time order and, just before each event, its
user's full-catalogue ranking is asked for `at` the event's time: for every scored test event
the served scores (recency and transition terms included) equal the evaluation's to 1e-5,
and the served order is the evaluation's order (score descending, index ascending for ties).
"""

import copy

import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.transition_prior import current_items
from hiertcn_keras.serving.online_recommender import OnlineRecommender
from hiertcn_keras.serving.transition_counter import TransitionCounter, warm_from_dataset
from hiertcn_keras.serving.user_store_url import open_user_store
from hiertcn_keras.training.evaluate import fitted_priors, prior_offsets, scored_queries, scoring_table
from hiertcn_keras.training.trainer import load_run

from .conftest import pooled_replay

GAMMA = 1.5


@pytest.fixture(scope="module")
def served(prior_run, twin_store):
    return OnlineRecommender.open(prior_run, items=twin_store, store="memory:")


def with_transitions(config):
    return config.replace(transition_prior=True, transition_gamma=GAMMA)


def fresh(served, gamma=True, **kwargs):
    """A new recommender of the same weights, its configuration carrying the transition weight (or not)."""
    model = copy.copy(served.model)
    if gamma:
        model.config = with_transitions(served.model.config)
    return OnlineRecommender(served.run, served.catalog, open_user_store("memory:", served.run.fingerprint),
                             step=(model, served.step), **kwargs)


def evaluation_scores(run_dir, data_dir):
    """`{(user id, view time, target): (full-catalogue scores [C + 1], current item)}` as the evaluation computes them."""
    model, _ = load_run(run_dir)
    model.model_config = with_transitions(model.model_config)
    dataset = PreparedDataset(data_dir)
    view = dataset.view("test")
    table, bias, _ = scoring_table(model)
    priors = fitted_priors(model.model_config, dataset)
    assert len(priors) == 2
    ids = dataset.users["id"].astype(str).tolist()
    out = {}
    for u, targets, users, events in scored_queries(model, view):
        scores = u @ table.T + prior_offsets(priors, view, events)
        if bias is not None:
            scores += bias
        currents = current_items(view, events)
        for row, (user, event) in enumerate(zip(users, events)):
            out[(ids[user - 1], float(view.timestamp[event]), int(targets[row]))] = (scores[row], int(currents[row]))
    return out, dataset


def test_served_scores_equal_the_evaluations_with_both_priors(prior_run, served, serving_data_dir, raw_log_rows):
    expected, dataset = evaluation_scores(prior_run, serving_data_dir)
    replay, _ = pooled_replay(dataset, raw_log_rows)  # the evaluation's pool (see the helper)
    rec = fresh(served)
    assert rec.transitions is not None and rec.transition_gamma == GAMMA and rec.clicks is not None
    n = rec.catalog.n_catalogue
    n_expected = len(expected)
    checked, with_current, moved = 0, 0, 0
    for user, item, t in replay:
        key = (user, float(t), rec.catalog.index_of_one(item))
        if key in expected:
            recs = rec.recommend(user, k=n, exclude_seen=False, at=t)
            got = np.full(n + 1, np.nan, np.float32)
            got[recs.indices] = recs.scores
            reference, current = expected.pop(key)
            np.testing.assert_allclose(got[1:], reference[1:], atol=1e-5, rtol=0)
            order = np.lexsort((np.arange(1, n + 1), -reference[1:])) + 1
            np.testing.assert_array_equal(recs.indices, order)  # ties (twins, equal counts) by index
            indices, counts, exact = rec.transitions.successors(current, t)
            assert exact
            with_current += current > 0
            moved += len(indices) > 0
            checked += 1
        rec.observe(user, item, t)
    assert not expected and checked == n_expected >= 5  # every scored test event was met online
    assert with_current > 0 and moved > 0  # events with a current item whose successors changed the scores


def test_only_kept_pairs_within_a_session_are_counted_and_the_current_item_is_the_sessions_last(served):
    rec = fresh(served, recency=None)
    a, b, c = (rec.catalog.item_ids[i] for i in (1, 2, 3))
    assert [rec.observe("x", item, t).status for item, t in ((a, 100.0), (b, 110.0), (b, 110.0), (c, 120.0))] == [
        "new_session", "kept", "duplicate", "kept"]
    rec.observe("x", a, 100000.0)  # a new session: no pair c → a
    rec.observe("y", a, 100001.0)
    rec.observe("y", c, 100002.0)  # another user: a → c
    assert [x.tolist() for x in rec.transitions.successors(1)[:2]] == [[2, 3], [1, 1]]  # a → b (x), a → c (y)
    assert rec.transitions.successors(3)[0].tolist() == []  # c was last in its session, then a session started
    assert rec.counts()["transitions_counted"] == 3
    # y's current item is c: nothing followed c, so y's ranking is the plain model's; x's is a.
    plain = fresh(served, gamma=False, recency=None)
    for user, item, t in (("y", a, 100001.0), ("y", c, 100002.0)):
        plain.observe(user, item, t)
    np.testing.assert_allclose(rec.recommend("y", k=5).scores, plain.recommend("y", k=5).scores, atol=1e-6)
    top = rec.recommend("x", k=rec.catalog.n_catalogue, exclude_seen=False)
    score = dict(zip(top.indices.tolist(), top.scores.tolist()))
    # Items 1/2 and 3/4 are twins: a → b once and a → c once lift b and c by gamma · log1p(1).
    assert score[2] - score[1] == pytest.approx(GAMMA * np.log1p(1), abs=1e-5)
    assert score[3] - score[4] == pytest.approx(GAMMA * np.log1p(1), abs=1e-5)
    # At a time when x's session has gone idle there is no current item: no transition term.
    idle = rec.recommend("x", k=rec.catalog.n_catalogue, exclude_seen=False, at=300000.0)
    idle_score = dict(zip(idle.indices.tolist(), idle.scores.tolist()))
    assert idle_score[2] == pytest.approx(idle_score[1], abs=1e-6)
    assert rec.transition_report()["gamma"] == GAMMA and rec.transition_report()["pairs"] == 3


def test_the_prior_is_off_without_a_weight_and_can_be_turned_off(served):
    assert fresh(served, gamma=False).transitions is None and fresh(served, gamma=False).transition_report() is None
    rec = fresh(served, transitions=None)
    assert rec.transitions is None and rec.transition_boost(1) is None
    with pytest.raises(ValueError, match="transitions must be"):
        fresh(served, transitions="yes")
    with pytest.raises(ValueError, match="no transition prior"):
        fresh(served, gamma=False, transitions=TransitionCounter(5))


def test_faiss_with_the_prior_rescores_the_successors_and_matches_exact(served, raw_log_rows):
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install faiss-cpu)")
    exact = fresh(served, recency=None)
    options = {"nlist": 2, "threads": 1, "train_per_cell": 39}
    queries = served.sample_queries(n=50)
    one_cell = OnlineRecommender(exact.run, exact.catalog, exact.store, retrieval="ivf", recency=None,
                                 transitions=exact.transitions, step=(exact.model, exact.step),
                                 retrieval_options={**options, "nprobe": 1, "recall_queries": queries})
    for user, item, t in raw_log_rows[:80]:
        exact.observe(user, item, t)
    n = exact.catalog.n_catalogue
    missed, checked = 0, 0
    for user in sorted({row[0] for row in raw_log_rows[:80]}):
        current = exact._query(user, None)[2]
        successors = exact.transitions.successors(current)[0]
        full = exact.recommend(user, k=n, exclude_seen=False)
        approx = one_cell.recommend(user, k=n, exclude_seen=False)
        assert set(successors.tolist()) <= set(approx.indices.tolist())  # never missed, whatever the cell
        exact_score = dict(zip(full.indices.tolist(), full.scores.tolist()))
        np.testing.assert_allclose(approx.scores, [exact_score[i] for i in approx.indices.tolist()], atol=1e-5, rtol=0)
        missed += n - len(approx.indices)
        checked += len(successors) > 0
    assert missed > 0 and checked > 0


def test_warm_start_counts_every_pair_of_the_dataset(served, serving_data_dir):
    counter = TransitionCounter(served.catalog.n_catalogue + 1)
    report = warm_from_dataset(counter, served.catalog, serving_data_dir)
    dataset = PreparedDataset(serving_data_dir)
    ev = dataset.events
    same = (ev["user"][1:] == ev["user"][:-1]) & (ev["session"][1:] == ev["session"][:-1])
    a, b = ev["item"][:-1][same], ev["item"][1:][same]
    rankable = b <= served.catalog.n_catalogue
    assert report["pairs"] == int(rankable.sum()) > 0 and report["skipped_items"] == int((~rankable).sum())
    expected = np.zeros(served.catalog.n_catalogue + 1, np.int64)
    np.add.at(expected, b[rankable & (a == a[0])], 1)
    indices, counts, _ = counter.successors(int(a[0]))  # the fixture's dataset ids are the run's: same indices
    got = np.zeros_like(expected)
    got[indices] = counts
    np.testing.assert_array_equal(got, expected)


def test_the_cli_warms_the_transition_counter_from_the_runs_data_unless_told(served, serving_data_dir, tmp_path,
                                                                              capsys):
    import argparse

    from hiertcn_keras.cli.verbs_serving import warm_priors

    rec = fresh(served, recency=None)
    warm_priors(argparse.Namespace(recency_from=None, run="RUN"), rec)
    err = capsys.readouterr().err
    expected = warm_from_dataset(TransitionCounter(rec.catalog.n_catalogue + 1), rec.catalog, serving_data_dir)
    assert f"transition prior: gamma {GAMMA:g}; the transition counter holds {expected['pairs']} " in err
    assert rec.transitions.report()["pairs"] == expected["pairs"] > 0
    other = fresh(served, recency=None)
    warm_priors(argparse.Namespace(recency_from=str(serving_data_dir), run="RUN"), other)
    assert f"of {serving_data_dir}" in capsys.readouterr().err and other.transitions.report()["pairs"] == expected["pairs"]
