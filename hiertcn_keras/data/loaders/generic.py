"""Generic interaction logs: delimited text or Parquet, one file or a folder of files.

This is the format for your own click logs, and the engine the named-dataset loaders
(`globo`, `xing`, `movielens`) share. A log is a table with one row per interaction and at
least a user id, an item id and a time column, under names you choose:

    user_id,item_id,timestamp
    00417,0009312,1556701200
    00417,0001187,1556701262.5

Accepted files: `.csv` (comma), `.tsv`/`.tab` (tab), `.txt` or any other name (separator
sniffed from the first lines), each optionally gzip-compressed (`.csv.gz`, ...), and Parquet
(`.parquet`, `.pq`). A folder is read file by file in sorted name order. `row` is an event's
position among all data rows read, across files in that order (a dropped row leaves a gap), so
every event can be traced back to its source line.

Ids are read as text, so `007` stays `007`. A missing id is an empty field (or a Parquet
null) and nothing else: `NULL`, `None` and `nan` are ids like any other. An id longer than
`hiertcn_keras.limits.MAX_ID_LENGTH` characters is a bad row (`user_id_too_long`,
`item_id_too_long`), since serving would refuse it. Times are Unix seconds (`time_unit="s"`), milliseconds
(`"ms"`) or ISO-8601 strings (`"iso"`; a string without a zone offset is taken as UTC). A Parquet
column of timestamp type is converted directly, whatever `time_unit` says. A time outside
`limits.MIN_TIMESTAMP`..`limits.MAX_TIMESTAMP` (1970..2100) is a bad row
(`timestamp_out_of_range`); the error suggests `time_unit="ms"` when the value would fit in
milliseconds.

In a folder, a file with no data rows (a header only, or nothing at all) is skipped, counted in
`LoadedLog.empty_files` and reported; a single file given alone must hold data.

Reading uses `pyarrow.csv` (multi-threaded, no Python objects per row); bad rows are found with
vectorised masks, so a 10M-row log loads in seconds.
"""

from __future__ import annotations

import csv
import difflib
import gzip
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.loaders.base import LoadedLog
from hiertcn_keras.limits import MAX_ID_LENGTH, MAX_TIMESTAMP, MIN_TIMESTAMP

TIME_UNITS = ("s", "ms", "iso")
BAD_ROW_POLICIES = ("error", "drop")
# Only an empty field is a missing id: `NULL`, `None`, `nan` are ids some systems really use.
MISSING_TOKENS = ("",)
DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
TEXT_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
FOLDER_PATTERN = "*.csv, *.tsv, *.tab, *.txt (each also .gz), *.parquet, *.pq"
# Reasons a row can be dropped, in the order they are checked (one reason per row): the check
# (a role, or role_check) and the reason it is counted under.
DROP_REASONS = (("timestamp", "bad_timestamp"), ("timestamp_range", "timestamp_out_of_range"),
                ("user", "missing_user"), ("user_length", "user_id_too_long"),
                ("item", "missing_item"), ("item_length", "item_id_too_long"))
# Damage a compressed or binary file can show, by the layer that notices it.
_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError, pa.ArrowException)
_ROLES = {"user": "user id", "item": "item id", "timestamp": "time", "session": "session id",
          "event_type": "event type"}
_UNIT_NAMES = {"s": "Unix seconds", "ms": "Unix milliseconds", "iso": "an ISO-8601 date-time"}
# Decimal text Arrow casts to float64: "12", "-3.5", ".5", "1.5e9" (not "nan", "inf", "0x10").
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def load_generic(path, *, user_col="user_id", item_col="item_id", time_col="timestamp",
                 session_col=None, event_col=None, time_unit="s", sep=None, on_bad_rows="error"):
    """Load an interaction log from a delimited-text or Parquet file, or a folder of them.

    Args:
        path: str or Path. A file, or a folder whose matching files are read in name order.
        user_col: str. Column holding the user id. Defaults to `"user_id"`.
        item_col: str. Column holding the item id. Defaults to `"item_id"`.
        time_col: str. Column holding the time of the interaction. Defaults to `"timestamp"`.
        session_col: str or `None`. Column holding a session id given by the source.
            Defaults to `None` (sessions are made later from idle gaps).
        event_col: str or `None`. Column holding an interaction type. Defaults to `None`.
        time_unit: str. `"s"` (Unix seconds), `"ms"` (Unix milliseconds) or `"iso"`
            (ISO-8601 text, naive = UTC). Defaults to `"s"`.
        sep: str or `None`. One-character field separator for every text file; `None` picks it
            from the file name (`.csv` comma, `.tsv`/`.tab` tab) or sniffs it. Defaults to `None`.
        on_bad_rows: str. `"error"` raises `DataError` at the first row with an unreadable time
            or a missing user/item id; `"drop"` removes such rows and counts them in
            `dropped` under `"bad_timestamp"`, `"missing_user"`, `"missing_item"`.
            Defaults to `"error"`.

    Returns:
        `LoadedLog` with columns `user`, `item`, `timestamp`, `row` (and `session`,
        `event_type` when their columns are given), in source order.

    Example:

    >>> log = load_generic("clicks.tsv", user_col="visitor", time_unit="ms")  # doctest: +SKIP
    """
    for option, value in (("user_col", user_col), ("item_col", item_col), ("time_col", time_col)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{option} must be a column name, got {value!r}")
    check_options(time_unit, sep, on_bad_rows)
    path = Path(path)
    columns = {"user": user_col, "item": item_col, "timestamp": time_col,
               "session": session_col, "event_type": event_col}
    columns = {role: name for role, name in columns.items() if name is not None}
    return read_events(list_files(path), columns, time_unit=time_unit, sep=sep,
                       on_bad_rows=on_bad_rows, source=path, format="generic")


def list_files(path):
    """The files a generic `path` names: itself, or a folder's matching files in name order.

    Args:
        path: str or Path. A file or a folder.

    Returns:
        list of Path.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    readable = TEXT_SUFFIXES + PARQUET_SUFFIXES
    files = sorted(p for p in path.iterdir()
                   if p.is_file() and not p.name.startswith(".") and _suffix(p) in readable)
    if not files:
        raise DataError(f"no files matching {FOLDER_PATTERN} in this folder", path=path)
    return files


def read_events(files, columns, *, time_unit="s", sep=None, names=None, on_bad_rows="error",
                source=None, format="generic"):
    """Read files into one canonical event table; the engine behind every loader.

    Args:
        files: list of Path. Read in this order; `row` numbers events across them.
        columns: dict. Canonical column (`"user"`, `"item"`, `"timestamp"`, optionally
            `"session"`, `"event_type"`) → column name in the files.
        time_unit: str. `"s"`, `"ms"` or `"iso"`. Defaults to `"s"`.
        sep: str or `None`. One-character separator; `None` chooses by file name.
            Defaults to `None`.
        names: sequence of str or `None`. Column names for files without a header line;
            `None` reads them from the first line. Defaults to `None`.
        on_bad_rows: str. `"error"` or `"drop"` (see `load_generic`). Defaults to `"error"`.
        source: str or Path or `None`. What `LoadedLog.source` reports. Defaults to the first
            file.
        format: str. What `LoadedLog.format` reports. Defaults to `"generic"`.

    Returns:
        `LoadedLog`.
    """
    check_options(time_unit, sep, on_bad_rows)
    parts = {role: [] for role in columns}
    timestamps, rows, dropped = [], [], {}
    n_rows = 0
    empty_files = []
    for file in files:
        try:
            arrays = read_file(Path(file), columns, sep=sep, names=names)
        except EmptyFileError:
            if len(files) == 1:
                raise
            empty_files.append(str(file))
            continue
        n = len(arrays["user"])
        seconds, bad = check_rows(file, arrays, columns, time_unit, on_bad_rows)
        keep = ~np.any(list(bad.values()), axis=0)
        for reason, count in count_reasons(bad).items():
            dropped[reason] = dropped.get(reason, 0) + count
        kept_index = np.flatnonzero(keep)
        everything = len(kept_index) == n  # the usual case: no copy
        for role in columns:
            if role != "timestamp":
                parts[role].append(arrays[role] if everything else arrays[role].take(kept_index))
        timestamps.append(seconds if everything else seconds[kept_index])
        rows.append(n_rows + kept_index)
        n_rows += n
    if not rows:
        raise DataError(f"none of the {len(files)} files holds a data row", path=source or files[0])
    events = pd.DataFrame({
        "user": _to_text(parts["user"]),
        "item": _to_text(parts["item"]),
        "timestamp": np.concatenate(timestamps).astype(np.float64, copy=False),
        "row": np.concatenate(rows).astype(np.int64, copy=False),
    }, copy=False)  # the arrays are ours: no 2 x 80 MB copy per 10M rows
    for role in ("session", "event_type"):
        if role in columns:
            events[role] = _to_text(parts[role])
    source = files[0] if source is None else source
    warnings = [empty_files_warning(empty_files, len(files))] if empty_files else []
    return LoadedLog(events=events, source=str(source), format=format, n_rows=n_rows,
                     dropped=dropped, warnings=warnings, empty_files=empty_files)


def empty_files_warning(empty_files, n_files):
    """The warning that reports the files of a folder that held no data rows."""
    names = ", ".join(Path(f).name for f in empty_files[:10])
    more = f" and {len(empty_files) - 10} more" if len(empty_files) > 10 else ""
    return (f"{len(empty_files)} of {n_files} files hold no data rows and were skipped "
            f"(header only or empty): {names}{more}")


def check_options(time_unit, sep, on_bad_rows):
    """Validate the reading options (the Spark engine checks them the same way)."""
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {TIME_UNITS}, got {time_unit!r}")
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise ValueError(f"on_bad_rows must be one of {BAD_ROW_POLICIES}, got {on_bad_rows!r}")
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        raise ValueError(f"sep must be a single character, got {sep!r}")


def _suffix(path):
    """`.csv` for `log.csv` and `log.csv.gz`; lower case."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


class EmptyFileError(DataError):
    """A file with no data rows: skipped in a folder of files, an error for a file given alone."""


def read_file(file, columns, *, sep, names):
    """Read the needed columns of one file as Arrow arrays, keyed by canonical role."""
    try:
        if _suffix(file) in PARQUET_SUFFIXES:
            present = pq.read_schema(file).names
            _check_columns(file, columns, present)
            table = pq.read_table(file, columns=list(dict.fromkeys(columns.values())))
            if table.num_rows == 0:
                raise EmptyFileError("the file has no data rows", path=file)
        else:
            table = _read_text(file, columns, sep=sep, names=names)
    except DataError:
        raise
    except _READ_ERRORS as error:
        raise DataError(f"cannot read the file (damaged or truncated?): {type(error).__name__}: {error}",
                        path=file) from None
    arrays = {}
    for role, name in columns.items():
        array = table.column(name)
        if pa.types.is_nested(array.type) or pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
            raise DataError(f"the {_ROLES[role]} column holds {array.type} values; it must hold "
                            f"{'numbers or text' if role == 'timestamp' else 'text or integers'}, "
                            "one value per row", path=file, column=name)
        if role != "timestamp" and not pa.types.is_string(array.type):
            try:
                array = pc.cast(array, pa.string())
            except pa.ArrowException as error:
                raise DataError(f"cannot read the {_ROLES[role]} column ({array.type}) as text: {error}",
                                path=file, column=name) from None
        arrays[role] = array
    return arrays


def _read_text(file, columns, *, sep, names):
    """Read one delimited text file with `pyarrow.csv`, every needed column as text."""
    sample = _head(file)
    if not sample.strip():
        raise EmptyFileError("the file is empty (no header line)", path=file)
    delimiter = sep or DELIMITERS.get(_suffix(file)) or _sniff(file, sample)
    if names is None:
        header = next(csv.reader([sample.splitlines()[0]], delimiter=delimiter))
        _check_columns(file, columns, header)
    else:
        _check_columns(file, columns, names)
    needed = list(dict.fromkeys(columns.values()))
    try:
        table = _arrow_csv(file, delimiter, needed, names, use_threads=True)
    except pa.ArrowInvalid as error:
        # The parallel reader does not know line numbers; read again on one thread to find it.
        try:
            _arrow_csv(file, delimiter, needed, names, use_threads=False)
        except _MalformedRow as bad:
            line = None if bad.row.number is None else bad.row.number - (names is None)
            raise DataError(
                f"expected {bad.row.expected_columns} fields separated by {delimiter!r}, got "
                f"{bad.row.actual_columns}: {bad.row.text!r}", path=file, row=line) from None
        except pa.ArrowInvalid:
            pass
        raise DataError(f"cannot parse the file: {error}", path=file) from None
    if table.num_rows == 0:
        raise EmptyFileError("the file has a header but no data rows", path=file)
    return table


class _MalformedRow(Exception):
    """A line with the wrong number of fields (carries pyarrow's `InvalidRow`)."""

    def __init__(self, row):
        super().__init__(row.text)
        self.row = row


def _arrow_csv(file, delimiter, needed, names, *, use_threads):
    """`pyarrow.csv.read_csv` with every needed column as text, raising `_MalformedRow`."""
    malformed = []

    def on_invalid(row):
        # Keep the first malformed line; "error" stops the read.
        malformed.append(row)
        return "error"

    try:
        return pv.read_csv(
            file,
            read_options=pv.ReadOptions(column_names=names, use_threads=use_threads),
            parse_options=pv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pv.ConvertOptions(
                include_columns=needed,
                column_types={name: pa.string() for name in needed},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        if malformed and not use_threads:
            raise _MalformedRow(malformed[0]) from None
        raise


def _head(file, size=65536):
    """The first `size` characters of a (possibly gzip-compressed) text file."""
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    with opener(file, "rt", encoding="utf-8-sig", errors="replace", newline="") as f:
        return f.read(size)


def _sniff(file, sample):
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;| ").delimiter
    except csv.Error:
        raise DataError("cannot tell the field separator; pass sep=", path=file) from None


def _check_columns(file, columns, present):
    repeated = sorted({name for name in columns.values() if list(present).count(name) > 1})
    if repeated:
        raise DataError(f"the header names the column(s) {', '.join(map(repr, repeated))} more than once; "
                        "which one is meant is ambiguous: rename the copies", path=file, column=repeated[0])
    for role, name in columns.items():
        if name in present:
            continue
        close = difflib.get_close_matches(name, present, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DataError(
            f"missing column {name!r} (the {_ROLES[role]} column); columns present: "
            f"{', '.join(map(repr, present))}{hint}", path=file, column=name)


def check_rows(file, arrays, columns, time_unit, on_bad_rows):
    """Parse times and find bad rows; raise at the first one unless dropping.

    Returns:
        (float64 array `[n]` of seconds, dict role → bool array `[n]` of bad rows).
    """
    seconds, bad_time = _parse_time(arrays["timestamp"], time_unit, file, columns["timestamp"])
    with np.errstate(invalid="ignore"):
        out_of_range = ~bad_time & ((seconds < MIN_TIMESTAMP) | (seconds > MAX_TIMESTAMP))
    bad = {"timestamp": bad_time, "timestamp_range": out_of_range}
    for role in ("user", "item"):
        array = arrays[role]
        missing = pc.or_kleene(pc.is_null(array), pc.is_in(array, pa.array(MISSING_TOKENS)))
        bad[role] = missing.fill_null(True).to_numpy(zero_copy_only=False)
        too_long = pc.greater(pc.utf8_length(array), MAX_ID_LENGTH).fill_null(False)
        bad[f"{role}_length"] = too_long.to_numpy(zero_copy_only=False)
    if on_bad_rows == "error":
        any_bad = np.any(list(bad.values()), axis=0)
        if any_bad.any():
            index = int(np.flatnonzero(any_bad)[0])
            check = next(check for check, _ in DROP_REASONS if bad[check][index])
            role = check.split("_")[0]
            value = arrays[role][index].as_py()
            raise DataError(_bad_row_message(check, value, seconds[index], time_unit)
                            + " (pass on_bad_rows='drop' to drop such rows)",
                            path=file, row=index + 1, column=columns[role])
    return seconds, bad


def _bad_row_message(check, value, seconds, time_unit):
    """What is wrong with a row's value, for the first bad row's `DataError`."""
    if check == "timestamp":
        return f"cannot read time {value!r} as {_UNIT_NAMES[time_unit]}"
    if check == "timestamp_range":
        message = (f"time {value!r} is {seconds:.6g} s since 1970, outside the plausible range "
                   f"{MIN_TIMESTAMP}..{MAX_TIMESTAMP} (1970-01-01..2100-01-01 UTC)")
        if time_unit == "s" and MIN_TIMESTAMP <= seconds / 1000 <= MAX_TIMESTAMP:
            message += "; it looks like milliseconds: pass time_unit='ms'"
        return message
    role = check.split("_")[0]
    if check.endswith("_length"):
        return (f"the {_ROLES[role]} is {len(value)} characters long, more than the {MAX_ID_LENGTH} "
                f"that prepare and serve accept: {value[:40]!r}…")
    return f"missing {_ROLES[role]}: {value!r}"


def count_reasons(bad):
    """Bad rows per drop reason, each row counted once under its first reason."""
    counts, taken = {}, None
    for check, reason in DROP_REASONS:
        mask = bad[check] if taken is None else bad[check] & ~taken
        taken = mask if taken is None else taken | mask
        if mask.any():
            counts[reason] = int(mask.sum())
    return counts


def _parse_time(array, time_unit, file, column):
    """Unix seconds for an Arrow array of times, and a mask of the unreadable ones."""
    kind = array.type
    if pa.types.is_timestamp(kind):
        # Arrow stores instants as integers since the epoch (UTC), zone or not.
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[kind.unit]
        ticks = pc.cast(array, pa.timestamp(kind.unit)).cast(pa.int64())
        seconds = ticks.to_numpy(zero_copy_only=False).astype(np.float64) / per_second
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        if time_unit == "iso":
            raise DataError(f"time_unit='iso' needs text, but the column holds {kind} numbers",
                            path=file, column=column)
        seconds = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
    elif time_unit == "iso":
        parsed = pd.to_datetime(pd.Series(array.to_pandas()), utc=True, format="ISO8601",
                                errors="coerce")
        seconds = ((parsed - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(
            dtype=np.float64, na_value=np.nan)
    else:
        try:
            seconds = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            # Some value is not a number: null out whatever is not one, then cast the rest.
            text = pc.utf8_trim_whitespace(array)
            number = pc.match_substring_regex(text, _NUMBER).fill_null(False)
            seconds = pc.cast(pc.if_else(number, text, None), pa.float64()).to_numpy(
                zero_copy_only=False)
    seconds = np.asarray(seconds, dtype=np.float64)
    if time_unit == "ms" and not pa.types.is_timestamp(kind):
        seconds = seconds / 1000.0
    return seconds, ~np.isfinite(seconds)


def _to_text(arrays):
    """Arrow string chunked arrays → one pandas string Series (no Python object per row)."""
    chunks = [chunk for array in arrays for chunk in array.chunks]
    series = pa.chunked_array(chunks, type=pa.string()).to_pandas()
    if series.dtype == object:  # pandas < 3 makes Python strings; pandas 3 keeps Arrow's
        series = series.astype("string[pyarrow]")
    return series
