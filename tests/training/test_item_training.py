import numpy as np

from hiertcn_keras import cli
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.item_vectors import load_item_vectors
from hiertcn_keras.serving.embedding_store import EmbeddingStore
from hiertcn_keras.training.item_training import ItemModelConfig, embed_items

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
