"""Tests of the notebook experiments: run reuse, the paper layout, orderings, top-K helpers.

Models are tiny (widths 8, B = 2, S = 2) and train 1 epoch without XLA on the shared tiny
dataset of `conftest.py`.
"""

import numpy as np
import pandas as pd
import pytest

from hiertcn_keras.data.dataset import EventView, PreparedDataset
from hiertcn_keras.training import experiments as ex
from hiertcn_keras.training.experiments import runs
from hiertcn_keras.training.trainer import load_run

TINY = dict(embedding_dim=8, high_units=(8,), tcn_channels=(8,), low_gru_units=(8,), hrnn_units=8,
            flat_tcn_channels=(8,), flat_gru_units=(8,), batch_size=2, sessions_per_batch=2, flat_len=5,
            gru_chunk_len=5, jit_compile=False)


@pytest.fixture(scope="module")
def hiertcn_run(tiny_data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "hiertcn"
    return ex.train_or_load(tiny_data_dir, "hiertcn", out, epochs=1, **TINY)


def test_second_call_reuses_the_run(tiny_data_dir, hiertcn_run):
    assert hiertcn_run["reused"] is False
    again = ex.train_or_load(tiny_data_dir, "hiertcn", hiertcn_run["run_dir"], epochs=1, **TINY)
    assert again["reused"] is True
    assert again["metrics"] == hiertcn_run["metrics"]


def test_other_settings_do_not_reuse(tiny_data_dir, hiertcn_run):
    record = hiertcn_run["record"]
    # A different model configuration or epoch count is not "the same run".
    assert not runs._same_run(hiertcn_run["run_dir"], _config(tiny_data_dir, embedding_dim=16),
                            _train_config(epochs=1), record["data"]["fingerprint"])
    assert not runs._same_run(hiertcn_run["run_dir"], _config(tiny_data_dir), _train_config(epochs=2),
                            record["data"]["fingerprint"])
    assert runs._same_run(hiertcn_run["run_dir"], _config(tiny_data_dir), _train_config(epochs=1),
                        record["data"]["fingerprint"])


def test_a_pretrained_run_is_reused_only_on_the_same_item_vectors(tiny_data_dir, tmp_path, monkeypatch):
    from hiertcn_keras.artifacts.run_dir import item_matrix_fingerprint
    from hiertcn_keras.training import trainer

    n_items = PreparedDataset(tiny_data_dir).n_items
    vectors = np.random.default_rng(0).normal(size=(n_items, 8)).astype(np.float32)
    settings = dict(TINY, item_space="pretrained", loss="hinge")
    first = ex.train_or_load(tiny_data_dir, "hiertcn", tmp_path / "run", epochs=1, item_matrix=vectors, **settings)
    assert first["reused"] is False
    assert first["record"]["item_matrix_sha256"] == item_matrix_fingerprint(vectors)

    # From here on training is refused: the same vectors must not train, other ones must.
    class Retrained(Exception):
        pass

    def refuse(data_dir, config, train_config, run_dir, item_matrix=None, **kwargs):
        raise Retrained(item_matrix)

    monkeypatch.setattr(trainer, "train", refuse)
    same = ex.train_or_load(tiny_data_dir, "hiertcn", tmp_path / "run", epochs=1, item_matrix=vectors.copy(),
                            **settings)
    assert same["reused"] is True
    # Same configuration, other item vectors (a retrained item store): trained again, on those.
    other = vectors[::-1].copy()
    with pytest.raises(Retrained) as retrained:
        ex.train_or_load(tiny_data_dir, "hiertcn", tmp_path / "run", epochs=1, item_matrix=other, **settings)
    np.testing.assert_array_equal(retrained.value.args[0], other)


def _config(data_dir, **changes):
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.training.trainer import model_config_for

    dataset = PreparedDataset(data_dir)
    values = {k: v for k, v in TINY.items() if k != "jit_compile"}
    values.update(changes)
    config = model_config_for(dataset, model="hiertcn", seed=0, **values)
    return build_recommender(config, item_counts=dataset.item_counts("train")).model_config


def _train_config(epochs):
    from hiertcn_keras.training.train_config import TrainConfig

    return TrainConfig(epochs=epochs, seed=0, verbose=0, jit_compile=False)


def test_model_table_rows_and_paper_layout(tiny_data_dir, hiertcn_run):
    # epochs_by_model replaces `epochs` for the models it names: hiertcn keeps its 1-epoch run.
    results = ex.model_table(tiny_data_dir, hiertcn_run["run_dir"].parent, ["hiertcn", "pop", "mv"], epochs=5,
                             epochs_by_model={"hiertcn": 1}, log=None, **TINY)
    assert [r["model"] for r in results] == ["hiertcn", "pop", "mv"]
    assert results[0]["reused"] is True
    frame = ex.paper_layout(results)
    assert list(frame.columns) == ["HierTCN", "Pop", "MV"]
    assert frame.loc[("ours (synthetic)", "Recall@10"), "HierTCN"] == results[0]["recall@10"]
    assert frame.loc[("paper (Pinterest)", "Recall@10"), "HierTCN"] == 0.855
    assert np.isnan(frame.loc[("paper (Pinterest)", "Recall@10"), "Pop"])  # the paper has no Pop
    # XING reports Recall@10, MRR and MRP only.
    assert ("paper (XING)", "Recall@1") not in frame.index
    assert list(ex.results_frame(results).index) == ["HierTCN", "Pop", "MV"]


def test_pairwise_orderings_by_hand():
    paper = {"a": 0.3, "b": 0.2, "c": 0.1}
    ours = {"a": 0.5, "b": 0.6, "c": 0.1}
    frame = ex.pairwise_orderings(ours, paper, "recall@10")
    # a>b in the paper, b>a here: disagree; a>c and b>c in both: agree.
    assert frame["agree"].tolist() == [False, True, True]
    # MRP is lower-is-better: the same numbers flip which model is "better".
    flipped = ex.pairwise_orderings(ours, paper, "mrp")
    assert flipped["better (paper)"].tolist() == ["b", "c", "c"]
    assert flipped["agree"].tolist() == [False, True, True]


def test_top_k_helpers_agree_with_full_scores(tiny_data_dir, hiertcn_run):
    dataset = PreparedDataset(tiny_data_dir)
    view = dataset.view("test")
    events = np.flatnonzero(view.score)
    user = view.user[events[0]]
    mine = events[view.user[events] == user]
    pop = ex.fit_baseline("pop", dataset)
    items, scores = ex.top_k_baseline(pop, view, mine, k=3)
    full = pop.scores(view, mine)
    assert items.shape == (len(mine), 3)
    np.testing.assert_allclose(scores[:, 0], full[:, 1 : dataset.n_catalogue + 1].max(axis=1))
    assert (items >= 1).all() and (items <= dataset.n_catalogue).all()
    assert (np.diff(scores, axis=1) <= 0).all()  # best first

    model, _ = load_run(hiertcn_run["run_dir"])
    items, scores = ex.top_k_recommender(model, view, user, mine, k=4)
    assert items.shape == scores.shape == (len(mine), 4)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert (items >= 1).all() and (items <= dataset.n_catalogue).all()


def test_top_k_recommender_matches_evaluation_ranks(tiny_data_dir, hiertcn_run):
    # The rank of each target among the top-K list equals evaluate_recommender's rank.
    from hiertcn_keras.training.evaluate import evaluate_recommender

    dataset = PreparedDataset(tiny_data_dir)
    view = dataset.view("test")
    model, _ = load_run(hiertcn_run["run_dir"])
    _, (ranks, users, targets) = evaluate_recommender(model, dataset, "test", return_ranks=True)
    user = users[0]
    mine = np.flatnonzero(view.score & (view.user == user))
    items, _ = ex.top_k_recommender(model, view, user, mine, k=dataset.n_catalogue)
    found = [int(np.flatnonzero(row == t)[0]) + 1 for row, t in zip(items, view.item[mine])]
    np.testing.assert_array_equal(found, ranks[users == user])


def test_user_view_scores_only_the_chosen_events():
    view = EventView.from_arrays(user=[1, 1, 1, 2, 2], item=[3, 4, 5, 3, 6], session=[0, 0, 1, 2, 2])
    sub, positions = ex.user_view(view, 1, events=[2])
    assert sub.item.tolist() == [3, 4, 5] and sub.score.tolist() == [False, False, True]
    assert positions.tolist() == [2]
    with pytest.raises(ValueError, match="user index 9"):
        ex.user_view(view, 9)


def test_nearest_items_and_topic_purity_by_hand():
    # Items 1, 2 point the same way, 3, 4 the other; row 0 is padding.
    vectors = np.array([[0, 0], [1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    items, cosine = ex.nearest_items(vectors, [1, 3], k=1)
    assert items[:, 0].tolist() == [2, 4]  # never the query itself, never padding
    np.testing.assert_allclose(cosine[0, 0], 0.9 / np.hypot(0.9, 0.1), rtol=1e-6)
    # Topics {1, 2} = 0 and {3, 4} = 1: every nearest neighbour shares the topic.
    assert ex.topic_purity(vectors, np.array([-1, 0, 0, 1, 1]), k=1) == 1.0
    # Topics crossed: no neighbour shares it.
    assert ex.topic_purity(vectors, np.array([-1, 0, 1, 0, 1]), k=1) == 0.0


def test_default_dataset_is_reused(tmp_path):
    log_path, prepared = ex.default_dataset(tmp_path, users=30, items=60, seed=1)
    stamp = (prepared / "events.parquet").stat().st_mtime_ns
    again = ex.default_dataset(tmp_path, users=30, items=60, seed=1)
    assert again == (log_path, prepared)
    assert (prepared / "events.parquet").stat().st_mtime_ns == stamp
    dataset = PreparedDataset(prepared)
    topics = ex.item_topics(log_path, dataset)
    assert topics[0] == -1 and len(topics) == dataset.n_items and (topics[1:] >= 0).all()


def test_paper_constants_match_reference():
    # docs/concepts.md#results-reported-in-the-paper: HierGRU / HierTCN training time = 2.53.
    assert round(ex.PAPER_TRAINING_SECONDS["hiergru"] / ex.PAPER_TRAINING_SECONDS["hiertcn"], 2) == 2.53
    assert ex.PAPER_OBJECTIVES["mrp"]["hinge"] == 0.309
    assert isinstance(ex.results_frame([{"model": "l2", "recall@1": 0.1}]), pd.DataFrame)


def test_item_store_is_reused(tiny_data_dir, tmp_path, monkeypatch):
    from hiertcn_keras.training import item_training
    from hiertcn_keras.training.item_training import ItemModelConfig

    config = ItemModelConfig(dim=4, epochs=1, n_negatives=5, n_walks=5)
    first = ex.item_store(tiny_data_dir, tmp_path / "items", config)
    assert first["reused"] is False and first["matrix"].shape == (PreparedDataset(tiny_data_dir).n_items, 4)

    # From here on training is refused: a reuse must not train, a changed setting must.
    class Retrained(Exception):
        pass

    def refuse(*args, **kwargs):
        raise Retrained(args, kwargs)

    monkeypatch.setattr(item_training, "embed_items", refuse)
    second = ex.item_store(tiny_data_dir, tmp_path / "items", config)
    assert second["reused"] is True
    np.testing.assert_array_equal(first["matrix"], second["matrix"])
    with pytest.raises(Retrained):
        ex.item_store(tiny_data_dir, tmp_path / "items", ItemModelConfig(dim=4, epochs=2, n_negatives=5, n_walks=5))
