"""Tests for the Globo.com news-clicks loader (`hiertcn_keras.data.loaders.globo`)."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders import load, load_globo

FIXTURES = Path(__file__).parents[2] / "fixtures" / "globo"
HEADER = ("user_id,session_id,session_start,session_size,click_article_id,click_timestamp,"
          "click_environment,click_deviceGroup,click_os,click_country,click_region,"
          "click_referrer_type\n")

# clicks_hour_000.csv (8 clicks) then clicks_hour_001.csv (6 clicks).
USERS = ["3", "3", "3", "12", "12", "57", "57", "104", "3", "3", "57", "98", "98", "98"]
ITEMS = ["96210", "235088", "96663", "336245", "64329", "160974", "96210", "202436",
         "272143", "96210", "158536", "336245", "235088", "64329"]
SESSIONS = ["1506826810154003"] * 3 + ["1506826934402012"] * 2 + ["1506828120688057"] * 2 + [
    "1506829755303104"] + ["1506831302117003"] * 2 + ["1506830406820057"] + [
    "1506832004015098"] * 3
# click_timestamp / 1000.
TIMES = [1506826841.377, 1506826902.118, 1506827011.790, 1506826961.530, 1506827190.002,
         1506828163.945, 1506828224.501, 1506829788.004, 1506831330.811, 1506831391.002,
         1506830437.110, 1506832040.250, 1506832102.733, 1506832170.000]


def click(user, article, millis):
    return f"{user},1506826810154003,1506826810000,1,{article},{millis},4,3,20,1,25,2\n"


def test_hourly_folder_maps_columns_in_hour_order():
    log = load_globo(FIXTURES)
    events = log.events
    assert list(events.columns) == ["user", "item", "timestamp", "row", "session"]
    assert events["user"].tolist() == USERS
    assert events["item"].tolist() == ITEMS
    assert events["session"].tolist() == SESSIONS
    np.testing.assert_allclose(events["timestamp"], TIMES, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(events["row"], np.arange(14))
    assert events["timestamp"].dtype == np.float64 and events["row"].dtype == np.int64
    assert (log.format, log.source, log.n_rows, log.dropped) == ("globo", str(FIXTURES), 14, {})
    log.check_conservation()


def test_one_hour_file():
    log = load_globo(FIXTURES / "clicks_hour_001.csv")
    assert log.events["user"].tolist() == USERS[8:]
    np.testing.assert_array_equal(log.events["row"], np.arange(6))


def test_clicks_subfolder_as_in_the_kaggle_download(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "clicks")
    (tmp_path / "articles_metadata.csv").write_text("article_id,category_id\n96210,281\n")
    pd.testing.assert_frame_equal(load_globo(tmp_path).events, load_globo(FIXTURES).events)


def test_hours_are_read_in_numeric_not_name_order(tmp_path):
    (tmp_path / "clicks_hour_10.csv").write_text(HEADER + click(5, 111, 1506862800000))
    (tmp_path / "clicks_hour_9.csv").write_text(HEADER + click(4, 222, 1506859200000))
    events = load_globo(tmp_path).events
    # Name order would put "10" before "9".
    assert events["user"].tolist() == ["4", "5"]
    np.testing.assert_array_equal(events["row"], [0, 1])


def test_folder_without_click_files(tmp_path):
    (tmp_path / "articles_metadata.csv").write_text("article_id\n1\n")
    with pytest.raises(DataError) as caught:
        load_globo(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: no click files matching clicks_hour_*.csv (or clicks/clicks_hour_*.csv) "
        "in this folder")


def test_bad_click_timestamp_names_the_hour_file_and_row(tmp_path):
    bad = tmp_path / "clicks_hour_001.csv"
    (tmp_path / "clicks_hour_000.csv").write_text(HEADER + click(1, 10, 1506826841377))
    bad.write_text(HEADER + click(1, 11, 1506830437110) + click(2, 12, "1506830437x"))
    with pytest.raises(DataError) as caught:
        load_globo(tmp_path)
    assert (caught.value.path, caught.value.row, caught.value.column) == (
        str(bad), 2, "click_timestamp")
    assert "cannot read time '1506830437x' as Unix milliseconds" in str(caught.value)
    log = load_globo(tmp_path, on_bad_rows="drop")
    assert log.dropped == {"bad_timestamp": 1}
    np.testing.assert_array_equal(log.events["row"], [0, 1])
    log.check_conservation()


def test_missing_article_column(tmp_path):
    path = tmp_path / "clicks_hour_000.csv"
    header = HEADER.replace("click_article_id", "article_id")
    path.write_text(header + "1,2,3,1,4,5,4,3,20,1,25,2\n")
    with pytest.raises(DataError, match=r"missing column 'click_article_id' \(the item id "
                                        r"column\); .* did you mean 'article_id'\?"):
        load_globo(path)


def test_load_dispatch():
    pd.testing.assert_frame_equal(load(FIXTURES, format="globo").events,
                                  load_globo(FIXTURES).events)
