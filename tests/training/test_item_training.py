import numpy as np

from hiertcn_keras import cli
from hiertcn_keras.artifacts.embedding_store import EmbeddingStore
from hiertcn_keras.artifacts.hashing import sha256_file
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.item_vectors import load_item_vectors
from hiertcn_keras.training.item_training import ItemModelConfig, embed_items, embed_items_shard

TINY = ItemModelConfig(dim=8, epochs=2, batch_size=16, n_negatives=10, top_t=3, n_walks=5)


def test_embed_items_writes_a_store_that_training_can_read(tiny_data_dir, tmp_path):
    data = PreparedDataset(tiny_data_dir)
    matrix, report = embed_items(tiny_data_dir, tmp_path / "store", TINY, verbose=0)
    assert matrix.shape == (data.n_items, 8) and np.all(matrix[0] == 0)
    assert np.isfinite(report["loss"]).all() and report["pairs"] > 0
    with EmbeddingStore.open(tmp_path / "store", verify="full") as store:
        np.testing.assert_array_equal(store.as_array(), matrix)
        assert store.config["data_fingerprint"] == data.fingerprint
    # Read back by item id, in the dataset's order (what `train --item-embeddings STORE` does).
    loaded = load_item_vectors(tmp_path / "store", data.n_items, data.items["id"].tolist())
    np.testing.assert_array_equal(loaded, matrix)


def test_embed_items_command(tiny_data_dir, tmp_path, capsys):
    code = cli.main(["embed-items", "--data", str(tiny_data_dir), "--out", str(tmp_path / "s"), "--dim", "4",
                     "--epochs", "1", "--negatives", "5", "--top-t", "2", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "hit-rate@10" in out and (tmp_path / "s" / "manifest.json").is_file()


def test_shards_embedded_with_the_saved_model_equal_the_whole_store(tiny_data_dir, tmp_path):
    config = ItemModelConfig(dim=8, epochs=2, batch_size=16, n_negatives=10, top_t=3, n_walks=5, hard_negatives=2,
                             loss="softmax", temperature=0.1)
    matrix, report = embed_items(tiny_data_dir, tmp_path / "whole", config, verbose=0,
                                 model_out=tmp_path / "item_model.keras")
    assert report["model_fingerprint"] == sha256_file(tmp_path / "item_model.keras")
    # Three workers, in any order, with the saved model: the same rows as the single run.
    for shard in (2, 0, 1):
        embed_items_shard(tiny_data_dir, tmp_path / "item_model.keras", tmp_path / "sharded", shard, 3)
    with EmbeddingStore.open(tmp_path / "sharded", verify="full") as store:
        np.testing.assert_allclose(store.as_array(), matrix, atol=1e-6)
        assert store.manifest["sharding"]["model_fingerprint"] == report["model_fingerprint"]


def test_shard_command_needs_a_model(tiny_data_dir, tmp_path, capsys):
    assert cli.main(["embed-items", "--data", str(tiny_data_dir), "--out", str(tmp_path / "s"), "--shard", "0/2"]) == 2
    assert "--shard needs --model" in capsys.readouterr().err


def test_item_config_refuses_bad_settings():
    import pytest

    with pytest.raises(ValueError, match="loss must be"):
        ItemModelConfig(loss="triplet")
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        ItemModelConfig(temperature=0)
    with pytest.raises(ValueError, match="epochs must be ≥ 1, got 0"):
        ItemModelConfig(epochs=0)
