"""Tests for the MovieLens loader (`hiertcn_keras.data.loaders.movielens`)."""

from pathlib import Path

import numpy as np
import pytest

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders import load, load_movielens
from hiertcn_keras.data.loaders.movielens import WARNING

FIXTURES = Path(__file__).parents[2] / "fixtures" / "movielens"
COLUMNS = ["user", "item", "timestamp", "row", "event_type"]


def test_ml_100k_u_data_from_its_folder():
    log = load_movielens(FIXTURES / "ml-100k")
    events = log.events
    assert list(events.columns) == COLUMNS
    assert events["user"].tolist() == ["214", "214", "37", "214", "880", "37", "412", "880",
                                       "37", "412", "653", "653", "653", "412"]
    assert events["item"].tolist() == ["50", "181", "121", "127", "300", "56", "1", "7", "50",
                                       "98", "286", "300", "7", "181"]
    assert events["event_type"].tolist() == ["4", "3", "5", "4", "3", "4", "5", "2", "5", "4",
                                             "1", "2", "4", "3"]
    np.testing.assert_array_equal(events["timestamp"][:3], [878871097.0, 878871133.0,
                                                            880915618.0])
    np.testing.assert_array_equal(events["row"], np.arange(14))
    assert (log.format, log.source, log.n_rows, log.dropped) == (
        "movielens", str(FIXTURES / "ml-100k"), 14, {})
    assert log.warnings == [WARNING]
    log.check_conservation()


def test_ml_1m_ratings_dat_double_colon_separated():
    events = load_movielens(FIXTURES / "ml-1m" / "ratings.dat").events
    assert list(events.columns) == COLUMNS
    assert events["user"].tolist() == ["18"] * 4 + ["23"] * 4 + ["302"] * 3 + ["6040"]
    assert events["item"].tolist() == ["1196", "260", "2571", "1210", "1580", "3578", "2028",
                                       "480", "2858", "1196", "593", "2019"]
    assert events["event_type"].tolist() == ["5", "4", "5", "3", "4", "5", "4", "2", "5", "4",
                                             "4", "5"]
    np.testing.assert_array_equal(events["timestamp"][[0, 1, 11]],
                                  [978154310.0, 978154310.0, 956703932.0])


def test_ml_latest_small_ratings_csv_keeps_half_star_ratings_as_written():
    events = load_movielens(FIXTURES / "ml-latest-small").events
    assert list(events.columns) == COLUMNS
    assert events["user"].tolist() == ["7"] * 4 + ["42"] * 3 + ["105"] * 3 + ["610"]
    assert events["item"].tolist() == ["260", "1196", "2571", "79132", "318", "356", "1704",
                                       "31", "527", "1275", "168252"]
    assert events["event_type"].tolist() == ["4.5", "4.0", "5.0", "4.5", "3.0", "4.0", "3.5",
                                             "0.5", "5.0", "2.5", "5.0"]
    assert events["timestamp"].iloc[-1] == 1493846352.0


def test_warning_says_why_ratings_are_weak_session_data():
    assert "entered in bulk" in WARNING and "not when the film was watched" in WARNING


def test_split_files_of_ml_100k_share_the_u_data_layout(tmp_path):
    path = tmp_path / "u1.base"
    path.write_text("1\t1\t5\t874965758\n1\t2\t3\t876893171\n")
    events = load_movielens(path).events
    assert events["item"].tolist() == ["1", "2"]
    np.testing.assert_array_equal(events["timestamp"], [874965758.0, 876893171.0])


def test_malformed_ratings_dat_line_names_file_and_row(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("1::1193::5::978300760\n1::661::3::978302109\n1::914::3\n")
    with pytest.raises(DataError) as caught:
        load_movielens(path)
    # No header: row 3 is the third line.
    assert (caught.value.path, caught.value.row) == (str(path), 3)


def test_bad_timestamp_in_u_data(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t\n")
    with pytest.raises(DataError) as caught:
        load_movielens(path)
    assert (caught.value.row, caught.value.column) == (2, "timestamp")
    log = load_movielens(path, on_bad_rows="drop")
    assert log.dropped == {"bad_timestamp": 1}
    log.check_conservation()


def test_folder_without_ratings(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match="holds none of u.data, ratings.dat, ratings.csv"):
        load_movielens(tmp_path)


def test_not_a_ratings_file(tmp_path):
    path = tmp_path / "movies.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="not a MovieLens ratings file"):
        load_movielens(path)


def test_load_dispatch():
    assert load(FIXTURES / "ml-1m", format="movielens").n_rows == 12
