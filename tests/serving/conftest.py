"""Shared fixtures of the serving tests: a raw log, its prepared dataset and two trained runs.

The raw log (6 users, 4–5 sessions each, 15 items "i0".."i14") is built so that `prepare`
has work to do that the online path must redo: sessions of up to 6 events with L = 4
(truncation, where a dropped event still extends its session), one exact duplicate event,
between-session gaps of 0.6–2.5 h around the 1800 s rule, and the temporal 80/90% cuts fall in
the middle of several users' histories (their sessions straddle the cut). Item "late" occurs
only in the last hours: it is in the vocabulary, never in the catalogue.

Runs are real `hiertcn train` run directories (1 epoch, no validation, tiny widths, B = 2,
S = 2, with the state decay on so the gap is exercised): a learned-space HierTCN, a
pretrained-space HierTCN on an embedding store written for the dataset, and a pretrained-space
HierTCN with the recency prior (window and weight fixed) over a store of twin item vectors.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

TINY = dict(embedding_dim=8, high_units=(8, 8), tcn_channels=(8, 8), kernel_size=2, batch_size=2,
            sessions_per_batch=2, decay_bandwidth=3600.0)


def make_log(rows):
    spec = importlib.util.spec_from_file_location(
        "data_conftest_for_serving", Path(__file__).resolve().parents[1] / "data" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_log(rows)


def raw_rows():
    """(user, item, timestamp) rows in source order (users interleaved by time)."""
    rng = np.random.default_rng(3)
    rows = []
    for k in range(6):
        t = 1000.0 * k
        for j in range(4 + k % 2):
            t += float(rng.integers(2200, 9000)) if j else 0.0
            for p in range(int(rng.integers(1, 7))):
                t += float(rng.integers(10, 600)) if p else 0.0
                rows.append((f"u{k}", f"i{int(rng.integers(0, 15))}", t))
    first_u2 = next(r for r in rows if r[0] == "u2")
    rows.append(first_u2)  # an exact duplicate: prepare drops it, so must the online path
    last_t = max(r[2] for r in rows)
    rows.append(("u0", "late", last_t + 10.0))
    rows.sort(key=lambda r: r[2])  # stable: equal times keep their order
    return rows


def pooled_replay(dataset, rows):
    """The raw rows a replay checked against the test evaluation's priors may hold.

    The evaluation's count pool (the priors') is the training split plus the test view, which
    holds only the users with a test target: the later events of the other users are not in
    it. Online every user's kept event counts, so those users' rows from their first unpooled
    event on are left out (they change no checked user's state, only the counts).

    Returns:
        `(rows kept, whether any row was left out)`.
    """
    ev = dataset.events
    scored = np.unique(ev["user"][(ev["split"] == 2) & (ev["item"] <= dataset.n_catalogue)])
    pooled = (ev["split"] == 0) | np.isin(ev["user"], scored)
    user_ids = dataset.users["id"].astype(str).to_numpy()
    first_unpooled = {}
    for user, t in zip(user_ids[ev["user"][~pooled] - 1].tolist(), ev["timestamp"][~pooled].tolist()):
        first_unpooled[user] = min(t, first_unpooled.get(user, t))
    return [row for row in rows if row[2] < first_unpooled.get(row[0], np.inf)], bool(first_unpooled)


@pytest.fixture(scope="session")
def raw_log_rows():
    return raw_rows()


@pytest.fixture(scope="session")
def serving_data_dir(tmp_path_factory, raw_log_rows):
    from hiertcn_keras.data.prepare import PrepareConfig, prepare

    path = tmp_path_factory.mktemp("serving") / "prepared"
    prepare(make_log(raw_log_rows), PrepareConfig(max_session_len=4)).write(path)
    return path


def _train(data_dir, out, **overrides):
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.train_config import TrainConfig
    from hiertcn_keras.training.trainer import model_config_for, train

    config = model_config_for(PreparedDataset(data_dir), model="hiertcn", **{**TINY, **overrides.pop("model", {})})
    train(data_dir, config, TrainConfig(epochs=1, jit_compile=False, verbose=0, validate=False), out,
          evaluate_test=False, **overrides)
    return out


@pytest.fixture(scope="session")
def learned_run(serving_data_dir, tmp_path_factory):
    return _train(serving_data_dir, tmp_path_factory.mktemp("runs") / "learned")


@pytest.fixture(scope="session")
def item_store(serving_data_dir, tmp_path_factory):
    """A store written for the dataset: rows in vocabulary order, ids = the vocabulary's."""
    from hiertcn_keras.artifacts.embedding_store import write_store
    from hiertcn_keras.data.dataset import PreparedDataset

    dataset = PreparedDataset(serving_data_dir)
    matrix = np.random.default_rng(5).normal(size=(dataset.n_items, 6)).astype(np.float32)
    ids = [None] + dataset.items["id"].astype(str).tolist()
    return write_store(tmp_path_factory.mktemp("items") / "store", matrix, ids)


def _train_pretrained(data_dir, store, out, **model):
    """A pretrained-space run on `store`'s vectors (`model`: more `ModelConfig` settings)."""
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.item_vectors import load_item_vectors

    dataset = PreparedDataset(data_dir)
    matrix = load_item_vectors(store, dataset.n_items, dataset.items["id"].tolist())
    return _train(data_dir, out, model={"item_space": "pretrained", **model}, item_matrix=matrix)


@pytest.fixture(scope="session")
def pretrained_run(serving_data_dir, item_store, tmp_path_factory):
    return _train_pretrained(serving_data_dir, item_store, tmp_path_factory.mktemp("runs") / "pretrained")


PRIOR_HOURS, PRIOR_BETA = 3.0, 2.0  # the recency prior of `prior_run`, fixed (no validation needed)


@pytest.fixture(scope="session")
def twin_store(serving_data_dir, tmp_path_factory):
    """An item store whose rows come in identical pairs (1 = 2, 3 = 4, ...)."""
    from hiertcn_keras.artifacts.embedding_store import write_store
    from hiertcn_keras.data.dataset import PreparedDataset

    dataset = PreparedDataset(serving_data_dir)
    rng = np.random.default_rng(11)
    matrix = np.zeros((dataset.n_items, 6), np.float32)
    for row in range(1, dataset.n_items, 2):
        matrix[row : row + 2] = rng.normal(size=6).astype(np.float32)
    ids = [None] + dataset.items["id"].astype(str).tolist()
    return write_store(tmp_path_factory.mktemp("twins") / "store", matrix, ids)


@pytest.fixture(scope="session")
def prior_run(serving_data_dir, twin_store, tmp_path_factory):
    return _train_pretrained(serving_data_dir, twin_store, tmp_path_factory.mktemp("runs") / "prior",
                             recency_prior=True, recency_hours=PRIOR_HOURS, recency_beta=PRIOR_BETA)


@pytest.fixture(scope="session")
def compiled_steps():
    """`compiled_steps(run_dir)`: the `(OnlineModel, UserStep)` pair of a run, built once.

    Compiling a run's user steps costs seconds of CPU per `OnlineRecommender.open`; the tests of
    what a recommender does with events open theirs with `step=compiled_steps(run_dir)`, the
    reuse `store_follower` makes of a replaced recommender's steps (the steps hold the model's
    weights and compiled functions, no user state). The online = offline equivalence and the
    default-store test open with steps of their own.
    """
    from hiertcn_keras.serving.online_model import OnlineModel
    from hiertcn_keras.serving.serving_run import ServingRun
    from hiertcn_keras.serving.user_step import UserStep

    built = {}

    def get(run_dir):
        if run_dir not in built:
            model = OnlineModel(ServingRun.open(run_dir).recommender, warm=False)
            built[run_dir] = (model, UserStep(model))
        return built[run_dir]

    return get
