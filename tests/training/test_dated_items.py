import numpy as np
import pytest

from hiertcn_keras import cli
from hiertcn_keras.artifacts.embedding_store import EmbeddingStore
from hiertcn_keras.artifacts.store_directory import StoreDirectory
from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.training.dated_items import embed_items_until, events_before
from hiertcn_keras.training.item_config import ItemModelConfig
from hiertcn_keras.training.item_training import embed_items

DAY = 86400.0
T0 = 1507161600.0
TINY = ItemModelConfig(dim=8, epochs=1, batch_size=16, n_negatives=5, top_t=3, n_walks=5)


@pytest.fixture(scope="module")
def trained(fresh_data_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("item_model") / "item_model.keras"
    embed_items(fresh_data_dir, path.parent / "store", TINY, verbose=0, model_out=path)
    return path


def test_re_embedding_as_of_t_uses_only_the_events_before_t(fresh_data_dir, trained):
    data = PreparedDataset(fresh_data_dir)
    ids = data.items["id"].tolist()
    n4, n5 = ids.index("n4") + 1, ids.index("n5") + 1
    day5, report = embed_items_until(data, T0 + 5 * DAY, model_path=trained, config=TINY)
    assert report["until"] == T0 + 5 * DAY and report["until_iso"] == "2017-10-10T00:00:00Z"
    assert report["n_events"] == len(events_before(data, T0 + 5 * DAY)) == 90
    assert np.any(day5[n4] != 0) and np.all(day5[n5] == 0)  # n4 seen on day 4, n5 only on day 5
    # n3 and n4 came after the model's training period: embedded from their neighbourhood alone.
    assert report["n_new"] == 2 and report["n_seen"] == data.n_items - 2
    day4, _ = embed_items_until(data, T0 + 4 * DAY, model_path=trained, config=TINY)
    assert np.all(day4[n4] == 0)
    # A later graph moves the vectors of items whose neighbourhood changed, without training.
    assert not np.allclose(day4, day5)


def test_embed_items_until_into_a_store_directory(fresh_data_dir, trained, tmp_path, capsys):
    stores = tmp_path / "stores"
    base = ["embed-items", "--data", str(fresh_data_dir), "--model", str(trained), "--top-t", "3", "--quiet"]
    for day in ("2017-10-10", "2017-10-09"):
        assert cli.main(base + ["--until", day, "--stores", str(stores)]) == 0
    out = capsys.readouterr().out
    assert "LATEST left at 2017-10-10T00, which is newer" in out
    directory = StoreDirectory(stores)
    assert directory.latest()[1].name == "2017-10-10T00"
    assert [p.name for _, p in directory.stores()] == ["2017-10-09T00", "2017-10-10T00"]
    with EmbeddingStore.open(directory.resolve("2017-10-09T12")[1]) as store:
        assert store.config["until"] == T0 + 4 * DAY
    # A store already written for T is left alone.
    assert cli.main(base + ["--until", "2017-10-09", "--stores", str(stores)]) == 2
    assert "2017-10-09T00 exists" in capsys.readouterr().err


def test_rolling_evaluate_command_reads_the_store_directory(fresh_data_dir, tmp_path, capsys):
    stores = tmp_path / "stores"
    # Without --model: trains on the events before T, then embeds.
    for day in ("2017-10-09", "2017-10-10"):
        assert cli.main(["embed-items", "--data", str(fresh_data_dir), "--until", day, "--stores", str(stores),
                         "--dim", "4", "--epochs", "1", "--negatives", "5", "--top-t", "2", "--quiet"]) == 0
    code = cli.main(["evaluate", "--data", str(fresh_data_dir), "--model", "pop", "--rolling", "day",
                     "--out", str(tmp_path / "pop.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "coverage" in out and "0.667" in out
    assert cli.main(["evaluate", "--data", str(fresh_data_dir), "--model", "pop", "--stores", str(stores)]) == 2
    assert "go with --rolling" in capsys.readouterr().err


@pytest.mark.slow  # trains an item model through the CLI; the table itself is tested in tests/data
def test_an_item_features_table_feeds_the_item_model(fresh_data_dir, tmp_path, capsys):
    import keras

    data = PreparedDataset(fresh_data_dir)
    ids = data.items["id"].tolist()
    # Globo's articles_metadata.csv format; one row of an article the log never mentions.
    lines = ["article_id,category_id,created_at_ts,publisher_id,words_count"]
    lines += [f"{item},{k % 3},{1507161600000 + 3600000 * k},0,{100 + k}" for k, item in enumerate(ids)]
    lines.append("unclicked,1,1507161600000,0,50")
    meta = tmp_path / "articles_metadata.csv"
    meta.write_text("\n".join(lines) + "\n")
    model_path = tmp_path / "item_model.keras"
    code = cli.main(["embed-items", "--data", str(fresh_data_dir), "--until", "2017-10-10", "--stores",
                     str(tmp_path / "stores"), "--dim", "4", "--epochs", "1", "--negatives", "5", "--top-t", "2",
                     "--item-features", str(meta), "--item-features-categorical", "category_id,publisher_id",
                     "--model-out", str(model_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "2 numeric and 2 categorical columns -> 8 features" in out
    assert "1 rows of items not in the dataset ignored (e.g. ['unclicked'])" in out
    encoder = keras.models.load_model(model_path).encoder
    content = np.asarray(encoder.content.table)
    assert content.shape == (data.n_items, 8) and not content[0].any()
    category = content[1:, 2:6].argmax(axis=1)  # the one-hot block of category_id (3 values + other)
    same = np.equal.outer(category, category)
    expected = np.equal.outer(np.arange(len(ids)) % 3, np.arange(len(ids)) % 3)
    np.testing.assert_array_equal(same, expected)
    assert (tmp_path / "stores" / "LATEST").is_file()
