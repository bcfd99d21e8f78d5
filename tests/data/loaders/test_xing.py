"""Tests for the XING RecSys Challenge 2016 loader (`hiertcn_keras.data.loaders.xing`)."""

from pathlib import Path

import numpy as np
import pytest

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders import load_xing

FIXTURE = Path(__file__).parents[2] / "fixtures" / "xing" / "interactions.csv"
HEADER = "user_id\titem_id\tinteraction_type\tcreated_at\n"


def test_fixture_canonical_columns_and_values():
    log = load_xing(FIXTURE)
    events = log.events
    assert list(events.columns) == ["user", "item", "timestamp", "row", "event_type"]
    assert events["user"].tolist() == ["9"] * 4 + ["14"] * 4 + ["2278"] * 6 + ["47103"] * 3 + [
        "1389501"] * 3
    assert events["item"].tolist() == [
        "1053452", "2839009", "1053452", "644106", "2839009", "1266941", "1266941", "2839009",
        "1053452", "644106", "97541", "97541", "1053452", "2839009", "1266941", "1266941",
        "644106", "97541", "2839009", "1053452"]
    assert events["event_type"].tolist() == [
        "1", "1", "2", "1", "1", "1", "3", "4", "1", "1", "1", "2", "1", "4", "1", "1", "1",
        "1", "1", "4"]
    np.testing.assert_array_equal(events["timestamp"][:4],
                                  [1446742046.0, 1446742193.0, 1446742210.0, 1446749823.0])
    assert events["timestamp"].iloc[-1] == 1454324001.0
    np.testing.assert_array_equal(events["row"], np.arange(20))


def test_loader_drops_nothing_and_carries_the_official_preset():
    log = load_xing(FIXTURE)
    # Type-4 (delete) rows and the duplicate click of user 47103 are still there.
    assert (log.n_rows, len(log.events), log.dropped) == (20, 20, {})
    assert (log.events["event_type"] == "4").sum() == 3
    assert log.preset == {
        "drop_event_types": ("4",),
        "min_item_support": 50,
        "min_user_events": 10,
        "max_user_events": 500,
        "drop_duplicates": False,
        "protocol": "paper",
        "session_gap": 1800.0,
        "max_session_len": 20,
    }
    assert (log.format, log.source) == ("xing", str(FIXTURE))
    log.check_conservation()


def test_preset_is_a_fresh_dict_per_load():
    first = load_xing(FIXTURE)
    first.preset["min_item_support"] = 1
    assert load_xing(FIXTURE).preset["min_item_support"] == 50


def test_folder_holding_interactions_csv():
    log = load_xing(FIXTURE.parent)
    assert len(log.events) == 20 and log.source == str(FIXTURE.parent)


def test_comma_separated_file_is_reported_as_missing_columns(tmp_path):
    path = tmp_path / "interactions.csv"
    path.write_text("user_id,item_id,interaction_type,created_at\n9,1053452,1,1446742046\n")
    with pytest.raises(DataError, match=r"missing column 'user_id' \(the user id column\); "
                                        r"columns present: 'user_id,item_id,interaction_type,"
                                        r"created_at'"):
        load_xing(path)


def test_missing_item_is_located(tmp_path):
    path = tmp_path / "interactions.csv"
    path.write_text(HEADER + "9\t1053452\t1\t1446742046\n9\t\t1\t1446742193\n")
    with pytest.raises(DataError) as caught:
        load_xing(path)
    assert (caught.value.path, caught.value.row, caught.value.column) == (str(path), 2, "item_id")
    log = load_xing(path, on_bad_rows="drop")
    assert log.dropped == {"missing_item": 1}
    log.check_conservation()


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected the XING interactions.csv"):
        load_xing(tmp_path)
