"""Tests for the generic loader (`hiertcn_keras.data.loaders.generic`) and `load` dispatch."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders import FORMATS, load, load_generic

FIXTURES = Path(__file__).parents[2] / "fixtures"
LOG_CSV = FIXTURES / "generic" / "log.csv"
LOG_TSV = FIXTURES / "generic" / "log.tsv"

# tests/fixtures/generic/log.csv, column by column.
CSV_USERS = ["00417", "00417", "00417", "00052", "00417", "00052", "10233", "00052",
             "10233", "007", "10233", "007", "00417", "10233", "007", "00052"]
CSV_ITEMS = ["0009312", "0001187", "0009312", "0004410", "0000778", "0004410", "0009312",
             "0001187", "0002206", "0000778", "0002206", "0004410", "0002206", "0000051",
             "0000778", "0009312"]
CSV_TIMES = [1556701200, 1556701262.5, 1556701290, 1556701301, 1556703600, 1556701355,
             1556702011, 1556701420.25, 1556702070, 1556705000, 1556702133, 1556705061,
             1556703644, 1556709999, 1556705120, 1556787600]
CSV_EVENTS = ["view", "view", "cart", "view", "view", "view", "view", "purchase", "view",
              "view", "cart", "view", "view", "view", "view", "view"]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_fixture_canonical_columns_and_values():
    log = load_generic(LOG_CSV)
    events = log.events
    assert list(events.columns) == ["user", "item", "timestamp", "row"]
    assert pd.api.types.is_string_dtype(events["user"])
    assert pd.api.types.is_string_dtype(events["item"])
    assert events["timestamp"].dtype == np.float64
    assert events["row"].dtype == np.int64
    assert events["user"].tolist() == CSV_USERS
    assert events["item"].tolist() == CSV_ITEMS  # leading zeros kept: "0000051", not "51"
    np.testing.assert_array_equal(events["timestamp"], CSV_TIMES)
    np.testing.assert_array_equal(events["row"], np.arange(16))
    assert (log.format, log.source, log.n_rows, log.dropped) == ("generic", str(LOG_CSV), 16, {})
    assert log.warnings == [] and log.preset == {}
    log.check_conservation()


def test_event_column_is_read_as_text():
    events = load_generic(LOG_CSV, event_col="event_type").events
    assert list(events.columns) == ["user", "item", "timestamp", "row", "event_type"]
    assert events["event_type"].tolist() == CSV_EVENTS


def test_tsv_fixture_with_column_mapping_milliseconds_and_sessions():
    log = load_generic(LOG_TSV, user_col="visitor", item_col="product", time_col="ts_ms",
                       session_col="session", time_unit="ms")
    events = log.events
    assert list(events.columns) == ["user", "item", "timestamp", "row", "session"]
    assert events["user"].tolist() == ["v-0031", "v-0031", "v-0031", "v-0902", "v-0031",
                                       "v-0902", "v-0902", "v-1177", "v-1177", "v-0902"]
    assert events["item"].tolist() == ["P000120", "P004471", "P000120", "P000988", "P000007",
                                       "P004471", "P000120", "P000988", "P000007", "P000007"]
    assert events["session"].tolist() == ["s0001", "s0001", "s0001", "s0002", "s0003",
                                          "s0002", "s0002", "s0004", "s0004", "s0005"]
    # 1556701200123 ms = 1556701200.123 s, and so on.
    np.testing.assert_allclose(
        events["timestamp"],
        [1556701200.123, 1556701241.95, 1556701300.0, 1556701302.5, 1556708000.001,
         1556701330.999, 1556701399.0, 1556712000.0, 1556712061.5, 1556790000.0],
        rtol=0, atol=1e-6)


def test_seconds_and_milliseconds_accept_integer_and_float_text(tmp_path):
    text = "user_id,item_id,timestamp\n1,2,1556701200\n1,3,1556701200.75\n1,4,1.5567012e9\n"
    seconds = load_generic(write(tmp_path / "s.csv", text)).events["timestamp"]
    np.testing.assert_array_equal(seconds, [1556701200.0, 1556701200.75, 1556701200.0])
    text = "user_id,item_id,timestamp\n1,2,1556701200123\n1,3,1556701200123.5\n"
    millis = load_generic(write(tmp_path / "ms.csv", text), time_unit="ms").events["timestamp"]
    np.testing.assert_allclose(millis, [1556701200.123, 1556701200.1235], rtol=0, atol=1e-6)


def test_padded_numbers_are_read_when_another_value_is_bad(tmp_path):
    # "abc" sends the column down the slow path; " 1556701200 " must still be read there.
    text = "user_id,item_id,timestamp\n1,2, 1556701200 \n1,3,abc\n1,4,+5e2\n"
    log = load_generic(write(tmp_path / "log.csv", text), on_bad_rows="drop")
    np.testing.assert_array_equal(log.events["timestamp"], [1556701200.0, 500.0])
    assert log.dropped == {"bad_timestamp": 1}


def test_iso_times_with_and_without_zone(tmp_path):
    text = (
        "user_id,item_id,timestamp\n"
        "a,x,2019-05-01T09:00:00Z\n"          # 1556701200 (2019-05-01 09:00 UTC)
        "a,y,2019-05-01T11:00:00+02:00\n"     # the same instant
        "a,z,2019-05-01 09:01:02.5\n"         # naive = UTC: 1556701200 + 62.5
        "a,w,2019-05-01\n"                    # midnight UTC: 1556701200 - 9 h
    )
    events = load_generic(write(tmp_path / "iso.csv", text), time_unit="iso").events
    np.testing.assert_array_equal(events["timestamp"],
                                  [1556701200.0, 1556701200.0, 1556701262.5, 1556668800.0])


def test_gzip_file_reads_like_the_plain_file(tmp_path):
    packed = tmp_path / "log.csv.gz"
    with open(LOG_CSV, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pd.testing.assert_frame_equal(load_generic(packed).events, load_generic(LOG_CSV).events)


def test_txt_sniffs_the_separator_and_sep_overrides_the_suffix(tmp_path):
    text = "user_id;item_id;timestamp\n007;0042;1556701200\n008;0043;1556701300\n"
    sniffed = load_generic(write(tmp_path / "log.txt", text)).events
    assert sniffed["user"].tolist() == ["007", "008"]
    assert sniffed["item"].tolist() == ["0042", "0043"]
    forced = load_generic(write(tmp_path / "semicolons.csv", text), sep=";").events
    pd.testing.assert_frame_equal(forced, sniffed)


def test_parquet_with_numeric_ids_and_timestamp_column(tmp_path):
    table = pa.table({
        "user_id": pa.array([17, 17, 4], pa.int64()),
        "item_id": pa.array(["007", "008", "007"]),
        "when": pa.array([1556701200_000, 1556701262_500, 1556787600_000],
                         pa.timestamp("ms", tz="Europe/Berlin")),
        "naive": pa.array([1556701200, 1556701262, 1556787600], pa.timestamp("s")),
        "secs": pa.array([1556701200.0, 1556701262.5, 1556787600.0]),
    })
    pq.write_table(table, tmp_path / "log.parquet")
    events = load_generic(tmp_path / "log.parquet", time_col="when").events
    assert events["user"].tolist() == ["17", "17", "4"]
    assert events["item"].tolist() == ["007", "008", "007"]
    np.testing.assert_array_equal(events["timestamp"], [1556701200.0, 1556701262.5, 1556787600.0])
    naive = load_generic(tmp_path / "log.parquet", time_col="naive").events["timestamp"]
    np.testing.assert_array_equal(naive, [1556701200.0, 1556701262.0, 1556787600.0])
    secs = load_generic(tmp_path / "log.parquet", time_col="secs").events["timestamp"]
    np.testing.assert_array_equal(secs, [1556701200.0, 1556701262.5, 1556787600.0])


def test_folder_is_read_in_name_order_with_global_rows(tmp_path):
    write(tmp_path / "b.tsv", "user_id\titem_id\ttimestamp\nu2\ti2\t20\nu2\ti3\t21\n")
    write(tmp_path / "a.csv", "user_id,item_id,timestamp\nu1,i1,10\n")
    pq.write_table(pa.table({"user_id": ["u3"], "item_id": ["i4"], "timestamp": [30]}),
                   tmp_path / "c.parquet")
    write(tmp_path / ".hidden.csv", "user_id,item_id,timestamp\nzz,zz,99\n")
    write(tmp_path / "notes.md", "not data\n")
    log = load_generic(tmp_path)
    # a.csv (1 row), b.tsv (2 rows), c.parquet (1 row); hidden and other files skipped.
    assert log.events["user"].tolist() == ["u1", "u2", "u2", "u3"]
    assert log.events["item"].tolist() == ["i1", "i2", "i3", "i4"]
    np.testing.assert_array_equal(log.events["timestamp"], [10.0, 20.0, 21.0, 30.0])
    np.testing.assert_array_equal(log.events["row"], [0, 1, 2, 3])
    assert (log.n_rows, log.source) == (4, str(tmp_path))


def test_missing_column_names_file_column_present_columns_and_close_match():
    with pytest.raises(DataError) as caught:
        load_generic(LOG_CSV, user_col="userid")
    error = caught.value
    assert (error.path, error.row, error.column) == (str(LOG_CSV), None, "userid")
    assert str(error) == (
        f"{LOG_CSV}: column 'userid': missing column 'userid' (the user id column); columns "
        "present: 'user_id', 'item_id', 'timestamp', 'event_type'; did you mean 'user_id'?")


def test_missing_column_without_close_match_has_no_hint():
    with pytest.raises(DataError, match=r"missing column 'ts_ms'") as caught:
        load_generic(LOG_CSV, time_col="ts_ms")
    assert "did you mean" not in str(caught.value)


def test_missing_column_in_parquet(tmp_path):
    pq.write_table(pa.table({"user": ["a"], "item_id": ["b"], "timestamp": [1]}),
                   tmp_path / "log.pq")
    with pytest.raises(DataError, match=r"columns present: 'user', 'item_id', 'timestamp'; "
                                        r"did you mean 'user'\?"):
        load_generic(tmp_path / "log.pq")


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty (no header line)"),
    ("user_id,item_id,timestamp\n", "the file has a header but no data rows"),
])
def test_empty_file(tmp_path, text, message):
    path = write(tmp_path / "log.csv", text)
    with pytest.raises(DataError) as caught:
        load_generic(path)
    assert str(caught.value) == f"{path}: {message}"


def test_unparsable_timestamp_names_file_row_column_and_value(tmp_path):
    path = write(tmp_path / "log.csv",
                 "user_id,item_id,timestamp\n007,1,1556701200\n007,2,1556701260\n007,3,abc\n")
    with pytest.raises(DataError) as caught:
        load_generic(path)
    error = caught.value
    assert (error.path, error.row, error.column) == (str(path), 3, "timestamp")
    assert str(error) == (f"{path}: row 3, column 'timestamp': cannot read time 'abc' as Unix "
                          "seconds (pass on_bad_rows='drop' to drop such rows)")


@pytest.mark.parametrize("value", ["", "nan", "inf"])
def test_empty_or_non_finite_timestamp_is_bad(tmp_path, value):
    path = write(tmp_path / "log.csv", f"user_id,item_id,timestamp\n1,2,5\n1,3,{value}\n")
    with pytest.raises(DataError, match=rf"row 2, column 'timestamp': cannot read time "
                                        rf"'{value}'"):
        load_generic(path)


def test_unparsable_iso_time(tmp_path):
    path = write(tmp_path / "log.csv",
                 "user_id,item_id,timestamp\n1,2,2019-05-01T09:00:00Z\n1,3,2019-13-45\n")
    with pytest.raises(DataError, match=r"row 2, column 'timestamp': cannot read time "
                                        r"'2019-13-45' as an ISO-8601 date-time"):
        load_generic(path, time_unit="iso")


def test_missing_user_and_item_ids(tmp_path):
    path = write(tmp_path / "log.csv",
                 "user_id,item_id,timestamp\n007,1,10\n,2,11\n007,NaN,12\n")
    with pytest.raises(DataError) as caught:
        load_generic(path)
    assert str(caught.value) == (f"{path}: row 2, column 'user_id': missing user id: '' "
                                 "(pass on_bad_rows='drop' to drop such rows)")
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n007,1,10\n007,,12\n")
    with pytest.raises(DataError, match=r"row 2, column 'item_id': missing item id: ''"):
        load_generic(path)


def test_parquet_null_id_is_missing(tmp_path):
    pq.write_table(pa.table({"user_id": ["a", None], "item_id": ["b", "c"],
                             "timestamp": [1.0, 2.0]}), tmp_path / "log.parquet")
    with pytest.raises(DataError, match=r"row 2, column 'user_id': missing user id: None"):
        load_generic(tmp_path / "log.parquet")


def test_bad_row_in_a_folder_names_the_file_and_its_own_row(tmp_path):
    write(tmp_path / "part-0.csv", "user_id,item_id,timestamp\n1,1,10\n1,2,11\n1,3,12\n")
    second = write(tmp_path / "part-1.csv", "user_id,item_id,timestamp\n2,1,20\n2,2,x\n")
    with pytest.raises(DataError) as caught:
        load_generic(tmp_path)
    assert (caught.value.path, caught.value.row, caught.value.column) == (str(second), 2,
                                                                          "timestamp")


def test_drop_counts_one_reason_per_row_and_conserves_rows(tmp_path):
    path = write(tmp_path / "log.csv", (
        "user_id,item_id,timestamp\n"
        "u1,i1,10\n"        # row 1 kept
        ",i2,oops\n"        # row 2 bad time and missing user: counted once, as bad_timestamp
        ",i3,12\n"          # row 3 missing user
        "u1,,13\n"          # row 4 missing item
        ",,14\n"            # row 5 missing user (first match) and item
        "u2,i2,15\n"        # row 6 kept
        "u2,i3,\n"          # row 7 bad (empty) time
    ))
    log = load_generic(path, on_bad_rows="drop")
    assert log.dropped == {"bad_timestamp": 2, "missing_user": 2, "missing_item": 1}
    assert log.n_rows == 7
    log.check_conservation()
    assert log.events["user"].tolist() == ["u1", "u2"]
    # `row` keeps the source position of each kept event (data rows 1 and 6).
    np.testing.assert_array_equal(log.events["row"], [0, 5])


def test_drop_across_a_folder_sums_counts(tmp_path):
    write(tmp_path / "a.csv", "user_id,item_id,timestamp\nu1,i1,1\nu1,i2,x\n")
    write(tmp_path / "b.csv", "user_id,item_id,timestamp\n,i1,1\nu3,i2,2\n")
    log = load_generic(tmp_path, on_bad_rows="drop")
    assert log.dropped == {"bad_timestamp": 1, "missing_user": 1}
    np.testing.assert_array_equal(log.events["row"], [0, 3])
    log.check_conservation()


def test_malformed_line_names_file_and_row(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n1,2,3\n1,2,3,4\n")
    with pytest.raises(DataError) as caught:
        load_generic(path)
    assert (caught.value.path, caught.value.row) == (str(path), 2)
    assert "expected 3 fields separated by ',', got 4: '1,2,3,4'" in str(caught.value)


def test_folder_without_matching_files_names_folder_and_pattern(tmp_path):
    write(tmp_path / "readme.md", "nothing here\n")
    with pytest.raises(DataError) as caught:
        load_generic(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: no files matching *.csv, *.tsv, *.tab, *.txt (each also .gz), "
        "*.parquet, *.pq in this folder")


def test_missing_path():
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_generic(FIXTURES / "generic" / "nope.csv")


@pytest.mark.parametrize("options, message", [
    ({"time_unit": "sec"}, r"time_unit must be one of \('s', 'ms', 'iso'\), got 'sec'"),
    ({"on_bad_rows": "skip"}, r"on_bad_rows must be one of \('error', 'drop'\), got 'skip'"),
    ({"sep": "::"}, r"sep must be a single character, got '::'"),
])
def test_invalid_options_echo_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        load_generic(LOG_CSV, **options)


def test_load_dispatches_by_format():
    assert FORMATS == ("generic", "globo", "xing", "movielens")
    pd.testing.assert_frame_equal(load(LOG_CSV).events, load_generic(LOG_CSV).events)
    assert load(FIXTURES / "xing", format="xing").format == "xing"


def test_load_rejects_unknown_format_and_options():
    with pytest.raises(ValueError) as caught:
        load(LOG_CSV, format="csv")
    assert str(caught.value) == (
        "unknown format 'csv'; valid formats: generic, globo, xing, movielens")
    with pytest.raises(ValueError, match=r"format 'xing' takes no option user_col; it takes: "
                                         r"on_bad_rows"):
        load(FIXTURES / "xing", format="xing", user_col="u")
