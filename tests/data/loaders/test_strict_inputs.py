"""Inputs every loader refuses or takes literally: limits, headers, damaged files, empty files.

Issue cases: `NULL`/`None`/`nan` are ids (only an empty field is missing); ids longer than
`limits.MAX_ID_LENGTH`; negative, 1e300 and millisecond timestamps; a repeated header name;
truncated `.csv.gz` files; a list-typed Parquet column; header-only files in a folder.
"""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders import load_generic, load_globo, load_movielens, load_xing
from hiertcn_keras.limits import MAX_ID_LENGTH

FIXTURES = Path(__file__).parents[2] / "fixtures"
HEADER = "user_id,item_id,timestamp\n"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("token", ["NULL", "None", "nan", "NaN", "null"])
def test_literal_null_words_are_ids_not_missing(tmp_path, token):
    log = load_generic(write(tmp_path / "log.csv", HEADER + f"{token},{token},10\nu,i,11\n"))
    assert log.events["user"].tolist() == [token, "u"]
    assert log.events["item"].tolist() == [token, "i"]
    assert log.dropped == {}


def test_only_an_empty_field_is_a_missing_id(tmp_path):
    path = write(tmp_path / "log.csv", HEADER + "u,NULL,10\n,i,11\n")
    with pytest.raises(DataError, match=r"row 2, column 'user_id': missing user id: ''"):
        load_generic(path)


def test_null_words_are_ids_in_the_named_formats(tmp_path):
    xing = write(tmp_path / "interactions.csv",
                 "user_id\titem_id\tinteraction_type\tcreated_at\nNULL\tNone\t1\t1446742046\n")
    assert load_xing(xing).events[["user", "item"]].values.tolist() == [["NULL", "None"]]
    ratings = write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\nnan,NULL,4,964982703\n")
    assert load_movielens(ratings).events[["user", "item"]].values.tolist() == [["nan", "NULL"]]
    header = (FIXTURES / "globo" / "empty_hour" / "clicks_hour_100.csv").read_text()
    globo = write(tmp_path / "clicks_hour_000.csv", header + "None,1,1506826810000,1,NULL,1506826841377,4,3,20,1,25,2\n")
    assert load_globo(globo).events[["user", "item"]].values.tolist() == [["None", "NULL"]]


def test_an_id_longer_than_the_limit_is_refused_with_file_row_and_column(tmp_path):
    long_id = "x" * (MAX_ID_LENGTH + 1)
    path = write(tmp_path / "log.csv", HEADER + f"u,{'y' * MAX_ID_LENGTH},10\nu,{long_id},11\n")
    with pytest.raises(DataError) as caught:
        load_generic(path)
    assert (caught.value.path, caught.value.row, caught.value.column) == (str(path), 2, "item_id")
    assert f"{MAX_ID_LENGTH + 1} characters long, more than the {MAX_ID_LENGTH}" in str(caught.value)
    log = load_generic(path, on_bad_rows="drop")
    assert log.dropped == {"item_id_too_long": 1} and len(log.events) == 1
    log.check_conservation()


@pytest.mark.parametrize("value, hint", [
    ("-5", False), ("1e300", False), ("1700000000000", True), ("9e15", False),
])
def test_implausible_timestamps_are_refused(tmp_path, value, hint):
    path = write(tmp_path / "log.csv", HEADER + f"u,i,1700000000\nu,j,{value}\n")
    with pytest.raises(DataError) as caught:
        load_generic(path)
    message = str(caught.value)
    assert (caught.value.row, caught.value.column) == (2, "timestamp")
    assert "outside the plausible range 0..4102444800" in message
    assert ("looks like milliseconds: pass time_unit='ms'" in message) == hint
    log = load_generic(path, on_bad_rows="drop")
    assert log.dropped == {"timestamp_out_of_range": 1}
    log.check_conservation()


def test_millisecond_times_read_with_the_ms_unit_are_accepted(tmp_path):
    log = load_generic(write(tmp_path / "log.csv", HEADER + "u,i,1700000000000\n"), time_unit="ms")
    np.testing.assert_array_equal(log.events["timestamp"], [1.7e9])


def test_a_repeated_header_name_is_refused(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp,item_id\nu,i,10,j\n")
    with pytest.raises(DataError, match=r"log\.csv: column 'item_id': the header names the column\(s\) 'item_id' "
                       "more than once"):
        load_generic(path)
    # A repeated column the loader does not read is harmless.
    write(path, "user_id,item_id,timestamp,x,x\nu,i,10,1,2\n")
    assert len(load_generic(path).events) == 1


def test_a_repeated_parquet_column_is_refused(tmp_path):
    table = pa.Table.from_arrays([pa.array(["u"]), pa.array(["i"]), pa.array(["j"]), pa.array([10.0])],
                                 names=["user_id", "item_id", "item_id", "timestamp"])
    pq.write_table(table, tmp_path / "log.parquet")
    with pytest.raises(DataError, match="more than once"):
        load_generic(tmp_path / "log.parquet")


def test_a_list_typed_parquet_id_column_is_refused(tmp_path):
    pq.write_table(pa.table({"user_id": [["a", "b"]], "item_id": ["i"], "timestamp": [10.0]}),
                   tmp_path / "log.parquet")
    with pytest.raises(DataError) as caught:
        load_generic(tmp_path / "log.parquet")
    assert caught.value.column == "user_id" and "list<" in str(caught.value)


def _gzip_log(path, rows=2000):
    text = HEADER + "".join(f"u{k % 37},i{k % 91},{1_600_000_000 + k}\n" for k in range(rows))
    path.write_bytes(gzip.compress(text.encode()))
    return path


DAMAGES = {
    "cut_in_the_middle": lambda data: data[: len(data) // 2],
    "cut_in_the_header": lambda data: data[:12],
    "trailer_missing": lambda data: data[:-6],
    "crc_wrong": lambda data: data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:],
    "garbage_inside": lambda data: data[:200] + b"\x00garbage\xff" * 20 + data[400:],
    "not_gzip_at_all": lambda data: b"PK\x03\x04 this is no gzip stream",
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_gzip_file_is_a_data_error_naming_it(tmp_path, damage):
    path = _gzip_log(tmp_path / "log.csv.gz")
    path.write_bytes(DAMAGES[damage](path.read_bytes()))
    with pytest.raises(DataError) as caught:
        load_generic(path)
    assert caught.value.path == str(path)


def test_a_header_only_file_in_a_folder_is_counted_and_reported():
    folder = FIXTURES / "globo" / "empty_hour"
    log = load_globo(folder)
    assert log.empty_files == [str(folder / "clicks_hour_100.csv")]
    assert log.n_rows == 5 and len(log.events) == 5
    assert any("1 of 3 files hold no data rows" in w and "clicks_hour_100.csv" in w for w in log.warnings)
    log.check_conservation()


def test_a_header_only_or_empty_file_given_alone_is_an_error(tmp_path):
    with pytest.raises(DataError, match="the file has a header but no data rows"):
        load_globo(FIXTURES / "globo" / "empty_hour" / "clicks_hour_100.csv")
    with pytest.raises(DataError, match="the file is empty"):
        load_generic(write(tmp_path / "log.csv", ""))


def test_a_folder_of_only_empty_files_is_an_error(tmp_path):
    write(tmp_path / "a.csv", HEADER)
    write(tmp_path / "b.csv", "")
    with pytest.raises(DataError, match="none of the 2 files holds a data row"):
        load_generic(tmp_path)


def test_empty_files_are_listed_in_stats_json(tmp_path):
    from hiertcn_keras.data.prepare import prepare

    shutil.copytree(FIXTURES / "globo" / "empty_hour", tmp_path / "clicks")
    prepared = prepare(load_globo(tmp_path / "clicks"))
    assert prepared.stats["empty_files"] == [str(tmp_path / "clicks" / "clicks_hour_100.csv")]
    assert prepared.stats["n_rows_read"] == 5
