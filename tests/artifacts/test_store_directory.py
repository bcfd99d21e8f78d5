import os

import numpy as np
import pytest

from hiertcn_keras.artifacts.embedding_store import write_store
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.store_directory import StoreDirectory, format_time, parse_time, period_name, store_until

DAY = 86400.0
T0 = parse_time("2017-10-05")


def _store(directory, until, value):
    return write_store(directory.path_for(until), np.full((3, 2), value, np.float32), ["", "a", "b"],
                       config={"until": until})


def test_times_parse_and_name_periods():
    assert T0 == 1507161600.0 == parse_time("1507161600") == parse_time("2017-10-05T00")
    assert parse_time("2017-10-05T06") == parse_time("2017-10-05T06:00:00Z") == T0 + 6 * 3600
    assert period_name(T0) == "2017-10-05T00" and period_name(T0 + 3600 + 60) == "2017-10-05T0101"
    assert format_time(T0) == "2017-10-05T00:00:00Z"
    with pytest.raises(ValueError, match="not a time: 'yesterday'"):
        parse_time("yesterday")


def test_resolve_gives_the_newest_store_stamped_at_or_before_a_time(tmp_path):
    directory = StoreDirectory(tmp_path)
    for d in (0, 1, 2):
        _store(directory, T0 + d * DAY, d)
    (tmp_path / "2017-10-09T00.tmp-123").mkdir()  # an unfinished write is no store
    assert [u for u, _ in directory.stores()] == [T0, T0 + DAY, T0 + 2 * DAY]
    assert directory.resolve(T0 + DAY + 5)[1].name == "2017-10-06T00"
    assert directory.resolve(T0 + DAY)[1].name == "2017-10-06T00"
    assert directory.resolve("2017-10-30")[1].name == "2017-10-07T00"
    with pytest.raises(LookupError, match="no store stamped at or before 2017-10-04T23:00:00Z"):
        directory.resolve(T0 - 3600)
    assert store_until(directory.path_for(T0)) == T0


def test_latest_pointer_is_replaced_atomically_and_checked(tmp_path):
    directory = StoreDirectory(tmp_path)
    first, second = _store(directory, T0, 0), _store(directory, T0 + DAY, 1)
    assert directory.latest()[1] == second  # no pointer yet: the newest store
    directory.set_latest(first)
    assert directory.latest() == (T0, first)
    directory.set_latest(second)
    assert (tmp_path / "LATEST").read_text() == "2017-10-06T00\n"
    assert [p for p in os.listdir(tmp_path) if p.startswith(".LATEST")] == []  # no temporary file left
    with pytest.raises(ValueError, match="is not a store inside"):
        directory.set_latest(tmp_path / "elsewhere")
    (tmp_path / "LATEST").write_text("2017-10-09T00\n")
    with pytest.raises(DataError, match="LATEST: names '2017-10-09T00', which is not a dated store"):
        directory.latest()


def test_a_store_in_the_wrong_folder_is_an_error(tmp_path):
    write_store(tmp_path / "2017-10-06T00", np.zeros((2, 2), np.float32), ["", "a"], config={"until": T0})
    with pytest.raises(DataError, match="stamped 2017-10-05T00:00:00Z but its folder is named 2017-10-06T00"):
        StoreDirectory(tmp_path).stores()
