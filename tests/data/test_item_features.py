"""Item-features tables in Globo's `articles_metadata.csv` format, and the strict checks."""

import numpy as np
import pandas as pd
import pytest

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.item_features import describe, read_item_features

# Globo's articles_metadata.csv: article_id, category_id, created_at_ts (Unix ms), publisher_id, words_count.
GLOBO = """article_id,category_id,created_at_ts,publisher_id,words_count
0,0,1513144419000,0,168
1,1,1405341936000,0,189
2,1,1408667706000,0,250
3,1,1408468313000,0,230
4,7,1407071171000,0,162
"""


def write(tmp_path, text, name="articles_metadata.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_globo_metadata_becomes_one_hot_categories_and_standardised_numbers(tmp_path):
    path = write(tmp_path, GLOBO)
    vocabulary = ["2", "0", "4", "99"]  # dataset order; "99" has no row; articles 1 and 3 were never clicked
    matrix, report = read_item_features(path, vocabulary, categorical=["category_id", "publisher_id"])
    assert report["id_column"] == "article_id" and report["numeric"] == ["created_at_ts", "words_count"]
    assert report["features"] == ["created_at_ts", "words_count", "category_id=1", "category_id=0",
                                  "category_id=7", "category_id=other", "publisher_id=0", "publisher_id=other"]
    assert (report["n_rows"], report["n_matched"], report["n_unknown_items"], report["n_items_without_features"]) == \
        (5, 3, 2, 1)
    assert matrix.shape == (5, 8) and matrix.dtype == np.float32
    assert not matrix[0].any() and not matrix[4].any()  # padding, and the item without a row
    ts = np.array([1513144419000, 1405341936000, 1408667706000, 1408468313000, 1407071171000], float)
    z = (ts - ts.mean()) / ts.std()  # standardised over the table's rows
    np.testing.assert_allclose(matrix[[1, 2, 3], 0], z[[2, 0, 4]], rtol=1e-5)
    np.testing.assert_array_equal(matrix[1, 2:], [1, 0, 0, 0, 1, 0])  # article 2: category 1, publisher 0
    np.testing.assert_array_equal(matrix[3, 2:], [0, 0, 1, 0, 1, 0])  # article 4: category 7
    line = describe(report)
    assert "2 rows of items not in the dataset ignored" in line and "1 dataset items have no row" in line


def test_rare_categories_share_other_and_missing_values_are_counted(tmp_path):
    path = write(tmp_path, "item_id,kind,size\na,x,1\nb,x,\nc,y,3\nd,z,5\ne,,7\n", "items.csv")
    matrix, report = read_item_features(path, list("abcde"), max_categories=1)
    assert report["categorical"] == ["kind"] and report["features"] == ["size", "kind=x", "kind=other"]
    assert report["missing_values"] == {"size": 1, "kind": 1}
    np.testing.assert_array_equal(matrix[1:, 1:], [[1, 0], [1, 0], [0, 1], [0, 1], [0, 0]])
    assert matrix[2, 0] == 0.0  # a missing number is the mean


def test_parquet_tables_are_read(tmp_path):
    path = tmp_path / "items.parquet"
    pd.DataFrame({"item_id": [1, 2], "category": ["news", "sport"], "age": [1.0, None]}).to_parquet(path)
    matrix, report = read_item_features(path, ["2", "1"])
    assert report["categorical"] == ["category"] and report["missing_values"]["age"] == 1
    np.testing.assert_array_equal(matrix[1:, 1:], [[0, 1, 0], [1, 0, 0]])


@pytest.mark.parametrize("text, kwargs, where", [
    (GLOBO + "2,1,1408667706000,0,250\n", {}, r"row 6, column 'article_id'.*duplicate item id '2' \(first at row 3\)"),
    ("article_id,words_count\n1,12\n2,twelve\n", {}, r"row 2, column 'words_count'.*not a number: 'twelve'"),
    ("article_id,words_count\n1,12\n,13\n", {}, r"row 2, column 'article_id'.*empty item id"),
    ("id,words_count\n1,12\n", {}, r"no item id column"),
    ("article_id\n1\n", {}, r"no feature column"),
    (GLOBO, {"categorical": ["category"]}, r"no categorical column \['category'\]"),
    (GLOBO, {"id_column": "item"}, r"no column 'item'"),
])
def test_bad_tables_name_the_file_row_and_field(tmp_path, text, kwargs, where):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=where) as caught:
        read_item_features(path, ["1", "2"], **kwargs)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_item_features(tmp_path / "nope.csv", ["1"])
