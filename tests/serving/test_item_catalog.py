"""Which item vectors online ranking uses, and the checks between a run and an item store."""

import json
import shutil

import numpy as np
import pytest

from hiertcn_keras.artifacts.embedding_store import EmbeddingStore, write_store
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.serving.item_catalog import ItemCatalog, UnknownItemError
from hiertcn_keras.serving.serving_run import ServingRun


@pytest.fixture(scope="module")
def learned(learned_run):
    return ServingRun.open(learned_run)


@pytest.fixture(scope="module")
def pretrained(pretrained_run):
    return ServingRun.open(pretrained_run)


def test_learned_runs_rank_by_their_output_layer(learned):
    # The default learned space ties its tables: items are scored with the input embedding rows
    # and the output layer's bias (an untied run would use the output layer's own kernel).
    catalog = ItemCatalog.from_run(learned)
    layer = learned.recommender.output_items
    assert layer.tied and layer.kernel is None
    inputs = learned.recommender.user_model.get_layer("item_embedding").embeddings
    np.testing.assert_array_equal(catalog.table, np.asarray(inputs)[: learned.n_catalogue + 1])
    np.testing.assert_array_equal(catalog.bias, np.asarray(layer.bias)[: learned.n_catalogue + 1])
    assert "learned" in catalog.source


def test_ids_map_both_ways(learned):
    catalog = ItemCatalog.from_run(learned)
    indices = catalog.index_of(["i3", "late"])
    assert catalog.ids_of(indices) == ["i3", "late"] and indices[1] > catalog.n_catalogue  # input only
    assert catalog.index_of(["nope"], missing="ignore").tolist() == [-1]
    with pytest.raises(UnknownItemError, match="nope"):
        catalog.index_of(["i1", "nope"])


def test_a_learned_run_checks_only_the_ids_of_a_store(learned, item_store, tmp_path):
    catalog = ItemCatalog.from_run(learned, item_store)
    assert "ids only" in catalog.source and catalog.bias is not None
    with EmbeddingStore.open(item_store) as store:
        ids, matrix = list(store.ids), store.as_array()
    short = write_store(tmp_path / "short", matrix[:-1], ids[:-1])
    with pytest.raises(DataError, match="lacks 1 item ids"):
        ItemCatalog.from_run(learned, short)


def test_a_pretrained_run_ranks_from_the_memory_mapped_store(pretrained, item_store):
    catalog = ItemCatalog.from_run(pretrained, item_store)
    assert "memory-mapped" in catalog.source and catalog.bias is None
    assert isinstance(catalog.table.base, np.memmap) or isinstance(getattr(catalog.table.base, "base", None), np.memmap)
    own = ItemCatalog.from_run(pretrained)
    np.testing.assert_array_equal(catalog.table[1:], own.table[1:])


def test_a_store_in_another_row_order_is_gathered(pretrained, item_store, tmp_path):
    with EmbeddingStore.open(item_store) as store:
        ids, matrix = list(store.ids), store.as_array()
    order = [0] + list(range(len(ids) - 1, 0, -1))  # rows reversed, padding first
    reordered = write_store(tmp_path / "reordered", matrix[order], [ids[i] for i in order])
    catalog = ItemCatalog.from_run(pretrained, reordered)
    assert "gathered" in catalog.source
    np.testing.assert_array_equal(catalog.table[1:], ItemCatalog.from_run(pretrained).table[1:])


def test_a_pretrained_run_refuses_a_store_with_other_vectors_or_dims(pretrained, item_store, tmp_path):
    with EmbeddingStore.open(item_store) as store:
        ids, matrix = list(store.ids), store.as_array()
    other = write_store(tmp_path / "other", matrix + 0.01, ids)
    with pytest.raises(DataError, match="differ from the run's frozen item vectors"):
        ItemCatalog.from_run(pretrained, other)
    wide = write_store(tmp_path / "wide", np.concatenate([matrix, matrix], axis=1), ids)
    with pytest.raises(DataError, match="dim 12"):
        ItemCatalog.from_run(pretrained, wide)


def test_the_run_needs_its_own_prepared_data(learned_run, serving_data_dir, tmp_path):
    with pytest.raises(DataError, match="--data"):
        ServingRun.open(learned_run, data_dir=tmp_path / "missing")
    moved = tmp_path / "moved"
    shutil.copytree(serving_data_dir, moved)
    assert ServingRun.open(learned_run, data_dir=moved).data_dir == moved
    config = json.loads((moved / "config.json").read_text())
    config["fingerprint"] = "0" * 16
    (moved / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match="not the data"):
        ServingRun.open(learned_run, data_dir=moved)


def test_models_without_a_separate_high_level_are_refused():
    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.serving.online_model import OnlineModel

    config = ModelConfig(model="hrnn", n_items=5, n_catalogue=3, hrnn_units=4, embedding_dim=4, batch_size=1)
    with pytest.raises(ValueError, match="'hrnn'"):
        OnlineModel(build_recommender(config))
