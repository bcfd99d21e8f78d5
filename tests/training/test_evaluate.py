"""Full-catalogue evaluation of neural models and baselines on a tiny prepared dataset.

The dataset (built with `tests/data/conftest.py`'s `make_log`, `prepare` and `.write`): 6 users,
4 sessions each (2–4 events, 2 h apart, users 97 s apart), items i0..i11 and one item "fresh"
that only occurs in the last session of the last user. Temporal protocol with cuts at the 80%
and 90% event-time quantiles: 72 events, 56 train; the test view holds users 4, 5, 6 (their
whole histories, train events included) with 8 scored targets; "fresh" is never scored (it is
outside the catalogue of the 12 items seen in training, n_items = 14 with index 0).

Models are tiny (widths 8, B = 2 queues, S = 2 session slots, T = 5 flat steps) so every test
user's history straddles several batches, and their weights are drawn at random (biases too)
so that no two candidates tie by accident.
"""


import keras
import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.config import NEURAL_MODELS
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training import evaluate as evaluate_module
from hiertcn_keras.training.evaluate import batcher_for, evaluate_baseline, evaluate_recommender, table_for
from hiertcn_keras.training.trainer import model_config_for

N_CATALOGUE, N_TEST_EVENTS = 12, 8
TINY = dict(
    embedding_dim=8, high_units=(8, 8), tcn_channels=(8, 8), kernel_size=2, low_gru_units=(8,),
    hrnn_units=8, flat_tcn_channels=(8, 8), flat_gru_units=(8,), batch_size=2, sessions_per_batch=2,
    flat_len=5, gru_chunk_len=5,
)


@pytest.fixture(scope="module")
def dataset(tiny_data_dir):
    return PreparedDataset(tiny_data_dir)


def test_tiny_dataset_is_what_the_docstring_says(dataset):
    test = dataset.view("test")
    assert (dataset.n_items, dataset.n_catalogue, dataset.protocol) == (14, N_CATALOGUE, "temporal")
    assert test.n_scored == N_TEST_EVENTS
    assert np.unique(test.user[test.score]).tolist() == [4, 5, 6]
    assert len(dataset.events["item"]) == 72 and (dataset.events["split"] == 0).sum() == 56
    assert not test.score[test.item > N_CATALOGUE].any() and (test.item > N_CATALOGUE).any()


def randomize(rec, seed=0):
    """Random trainable weights (biases too): no accidental ties, u never exactly 0."""
    rng = np.random.default_rng(seed)
    for variable in rec.trainable_variables:
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype("float32"))
    return rec


@pytest.fixture(scope="module")
def recommenders(dataset):
    cache = {}

    def get(name):
        if name not in cache:
            keras.utils.set_random_seed(0)
            config = model_config_for(dataset, model=name, **TINY)
            rec = build_recommender(config, item_counts=dataset.item_counts("train"))
            rec(next(iter(batcher_for(config, dataset.view("train")).batches())))  # build
            cache[name] = randomize(rec)
        return cache[name]

    return get


def replay_user(rec, view, user):
    """u at every scored event of one user, replaying its history alone in row 0 from zero state."""
    config = rec.model_config
    table = table_for(config, view)
    if hasattr(table, "segment_start"):  # packed rows (SegmentTable): the user's events, T per batch
        units = config.flat_chunk_len
        rows = np.flatnonzero(table.user[: table.n_units] == user)
    else:
        units = config.sessions_per_batch if config.hierarchical else 1
        k = int(np.searchsorted(table.users, user))
        rows = np.arange(table.user_ptr[k], table.user_ptr[k + 1])
    rec.reset_states()
    us, targets = [], []
    for start in range(0, len(rows), units):
        index = np.full((config.batch_size, units), -1)
        chunk = rows[start : start + units]
        index[0, : len(chunk)] = chunk
        batch = table.gather(index)
        u = np.asarray(rec.predict_on_batch(batch))[0]
        selected = batch["score"][0]
        us.append(u[selected])
        targets.append(batch["items"][0][selected])
    return np.concatenate(us), np.concatenate(targets)


def brute_force_ranks(u, targets, table, bias):
    """Conservative ranks over items 1..C: 1 + #{j ≠ t, j ≥ 1: s_j ≥ s_t}."""
    scores = u @ table.T + (0.0 if bias is None else bias)
    ranks = []
    for row, t in zip(scores, targets):
        others = np.ones(len(row), bool)
        others[[0, t]] = False
        ranks.append(1 + int((row[others] >= row[t]).sum()))
    return np.array(ranks)


@pytest.fixture
def captured_queries(monkeypatch):
    """Records the (queries, targets) that `evaluate_recommender` ranks, in order."""
    calls = []
    original = evaluate_module.inner_product_ranks

    def spy(queries, items, targets, **kwargs):
        calls.append((np.array(queries), np.array(targets)))
        return original(queries, items, targets, **kwargs)

    monkeypatch.setattr(evaluate_module, "inner_product_ranks", spy)
    return calls


@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_ranks_equal_a_brute_force_replay_of_each_user(dataset, recommenders, name, captured_queries):
    rec = recommenders(name)
    result, (ranks, users, targets) = evaluate_recommender(rec, dataset, "test", return_ranks=True)
    assert result["n_events"] == len(ranks) == N_TEST_EVENTS
    queries = np.concatenate([q for q, _ in captured_queries])
    table, bias = (None if t is None else keras.ops.convert_to_numpy(t) for t in rec.item_table())
    view = dataset.view("test")
    for user in np.unique(users):
        mine = users == user  # the user's events, in time order (one queue row, batch by batch)
        u, user_targets = replay_user(rec, view, user)
        np.testing.assert_array_equal(targets[mine], user_targets)
        # The state carried across batches (and shared rows) gives the user's own u, and
        # nothing of the users before it in its queue row.
        np.testing.assert_allclose(queries[mine], u, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(ranks[mine], brute_force_ranks(u, user_targets, table, bias))


def test_flat_and_hierarchical_models_score_the_same_events(dataset, recommenders):
    view = dataset.view("test")
    expected = sorted(zip(view.user[view.score].tolist(), view.item[view.score].tolist()))
    for name in ("hiertcn", "tcn"):
        rec = recommenders(name)
        result, (_, users, targets) = evaluate_recommender(rec, dataset, "test", return_ranks=True)
        assert result["n_events"] == N_TEST_EVENTS
        assert sorted(zip(users.tolist(), targets.tolist())) == expected, name
        assert (targets <= N_CATALOGUE).all() and (targets >= 1).all()


def test_all_ties_rank_conservatively(dataset, recommenders):
    keras.utils.set_random_seed(0)
    config = recommenders("hiertcn").model_config.replace(tied_embeddings=False)
    rec = build_recommender(config)
    rec.output_items.kernel.assign(np.zeros((N_CATALOGUE + 1, 8), "float32"))
    # Every candidate scores 0 = the target's score: conservative rank = 1 + 11 others = 12,
    # so recall@1/5/10 = 0, recall@20 = 1, mrr = 1/12, mrp = (12 − 1)/12, ndcg@10 = 0.
    result = evaluate_recommender(rec, dataset, "test")
    expected = {"recall@1": 0.0, "recall@5": 0.0, "recall@10": 0.0, "recall@20": 1.0, "mrr": 1 / 12,
                "mrp": 11 / 12, "ndcg@10": 0.0}
    assert {k: result[k] for k in expected} == pytest.approx(expected)
    assert result["n_events"] == N_TEST_EVENTS
    assert (result["tie_policy"], result["model"]) == ("conservative", "hiertcn")
    assert result["protocol"] == "temporal"
    optimistic = evaluate_recommender(rec, dataset, "test", tie_policy="optimistic")
    assert (optimistic["recall@1"], optimistic["mrr"], optimistic["mrp"]) == (1.0, 1.0, 0.0)


def test_evaluating_twice_gives_identical_metrics(dataset, recommenders):
    rec = recommenders("gru")
    first = evaluate_recommender(rec, dataset, "test")
    # Leave junk in the carried state: rows continue (no user start) with random items.
    junk = next(iter(batcher_for(rec.model_config, dataset.view("train")).batches()))
    junk["user_start"][:] = False
    rec.predict_on_batch(junk)
    assert evaluate_recommender(rec, dataset, "test") == first


@pytest.mark.parametrize("name", ["hiertcn", "hrnn", "gru"])
def test_earlier_train_events_are_replayed(dataset, recommenders, name, captured_queries, monkeypatch):
    rec = recommenders(name)
    _, (_, users, _) = evaluate_recommender(rec, dataset, "test", return_ranks=True)
    before = np.concatenate([q for q, _ in captured_queries])
    captured_queries.clear()
    # Change user 5's training events only (to other catalogue items), in the loaded dataset.
    ev = dataset.events
    changed = (ev["user"] == 5) & (ev["split"] == 0)
    items = ev["item"].copy()
    items[changed] = items[changed] % N_CATALOGUE + 1
    monkeypatch.setitem(ev, "item", items)  # restored after the test
    evaluate_recommender(rec, dataset, "test", return_ranks=True)
    after = np.concatenate([q for q, _ in captured_queries])
    five = users == 5
    assert five.sum() > 0
    # The test-time state of user 5 is built from its train events ...
    assert np.abs(after[five] - before[five]).max(axis=1).min() > 1e-4
    # ... and nobody else's: users 4 and 6 are untouched, also the one that follows user 5
    # in its queue row (the state is zeroed at that user's start).
    np.testing.assert_allclose(after[~five], before[~five], rtol=1e-6, atol=1e-6)


class ConstantBaseline:
    """Scores every candidate 0: all ties."""

    def scores(self, view, events):
        return np.zeros((len(events), N_CATALOGUE + 1), np.float32)


class OracleBaseline:
    """Scores the event's own target highest: checks that scores line up with their events."""

    def scores(self, view, events):
        scores = np.zeros((len(events), N_CATALOGUE + 1), np.float32)
        scores[np.arange(len(events)), view.item[events]] = 1.0
        return scores


def test_baseline_ties_and_alignment(dataset):
    # 12 candidates all tied: conservative rank 12, optimistic 1, average 1 + 11/2 = 6.5.
    conservative = evaluate_baseline(ConstantBaseline(), dataset, "test", name="const", chunk_events=3)
    assert conservative["mrr"] == pytest.approx(1 / 12) and conservative["mrp"] == pytest.approx(11 / 12)
    assert conservative["recall@10"] == 0.0 and conservative["recall@20"] == 1.0
    assert (conservative["n_events"], conservative["model"]) == (N_TEST_EVENTS, "const")
    optimistic = evaluate_baseline(ConstantBaseline(), dataset, "test", name="c", tie_policy="optimistic")
    assert (optimistic["recall@1"], optimistic["mrr"], optimistic["mrp"]) == (1.0, 1.0, 0.0)
    average = evaluate_baseline(ConstantBaseline(), dataset, "test", name="c", tie_policy="average")
    assert average["mrr"] == pytest.approx(1 / 6.5) and average["mrp"] == pytest.approx(5.5 / 12)
    oracle = evaluate_baseline(OracleBaseline(), dataset, "test", name="oracle", chunk_events=3)
    assert (oracle["recall@1"], oracle["n_events"]) == (1.0, N_TEST_EVENTS)


@pytest.mark.parametrize("name", sorted(__import__("hiertcn_keras.models.baselines", fromlist=["NAMES"]).NAMES))
def test_every_registered_baseline_scores_every_test_target(dataset, name):
    from hiertcn_keras.models.baselines import fit_baseline

    result = evaluate_baseline(fit_baseline(name, dataset), dataset, "test", name=name, chunk_events=5)
    assert (result["n_events"], result["model"]) == (N_TEST_EVENTS, name)
    assert 0.0 <= result["recall@10"] <= 1.0 and 0.0 < result["mrr"] <= 1.0


def test_chunk_budget_follows_the_free_memory_and_ranks_do_not(dataset, recommenders, captured_queries,
                                                                monkeypatch):
    from hiertcn_keras.metrics import budget_from_memory, chunk_bytes

    rec = recommenders("hiertcn")
    budgets = []
    spy = evaluate_module.inner_product_ranks

    def record(queries, items, targets, **kwargs):
        budgets.append(kwargs["memory_budget_bytes"])
        return spy(queries, items, targets, **kwargs)

    monkeypatch.setattr(evaluate_module, "inner_product_ranks", record)
    monkeypatch.setattr(evaluate_module, "available_bytes", lambda: 400 * 2**20)
    roomy, (ranks, _, _) = evaluate_recommender(rec, dataset, "test", return_ranks=True)
    assert set(budgets) == {budget_from_memory(400 * 2**20)} == {100 * 2**20}
    # One query against one item per matmul: the smallest chunks there are.
    tiny, (tiny_ranks, _, _) = evaluate_recommender(rec, dataset, "test", return_ranks=True,
                                                    memory_budget_bytes=chunk_bytes(1, 1, 8))
    np.testing.assert_array_equal(tiny_ranks, ranks)
    assert tiny == roomy
