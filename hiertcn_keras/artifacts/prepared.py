"""The files of a prepared dataset folder (written by `hiertcn prepare`), read without Keras.

    PREPARED/events.parquet          every kept event (`EVENT_COLUMNS`), sorted by (user, time, row);
      or PREPARED/events/part-*.parquet   the Spark engine's parts, in that order by name
    PREPARED/items.parquet           the item vocabulary (the catalogue first)
    PREPARED/users.parquet           the user vocabulary
    PREPARED/stats.json              counts: events, drops by reason, splits
    PREPARED/config.json             the `prepare` settings (the session rules among them),
                                     the source, the catalogue size and the fingerprint

`data.dataset.PreparedDataset` builds the split views on top of these readers; serving reads
only `config.json` and the vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hiertcn_keras.artifacts import integrity
from hiertcn_keras.artifacts.errors import DataError

FORMAT_VERSION = 1
EVENT_COLUMNS = ("user", "item", "timestamp", "session", "position", "split")
EVENTS_DIR = "events"
CONFIG_FILE = "config.json"
STATS_FILE = "stats.json"


def read_config(path):
    """A prepared folder's `config.json`, checked for this package's format version.

    Args:
        path: str or Path. A prepared folder.

    Returns:
        dict.

    Raises:
        DataError: the file is missing or of another format version.
    """
    config_path = Path(path) / CONFIG_FILE
    if not config_path.is_file():
        raise DataError("not a prepared dataset (missing config.json); create one with `hiertcn prepare`",
                        path=path)
    config = read_json(config_path)
    if config.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"prepared with format version {config.get('format_version')}, this package reads "
            f"version {FORMAT_VERSION}; prepare the data again",
            path=config_path,
        )
    return config


def read_metadata(path):
    """Check that a prepared folder is whole and read its `config.json` and `stats.json`.

    Args:
        path: str or Path. A prepared folder.

    Returns:
        `(config, stats)`, two dicts.

    Raises:
        DataError: a file is missing, damaged (its size or sha256 differs from the record
            `prepare` wrote in `config.json`), or the format version differs.
    """
    path = Path(path)
    missing = [
        name
        for name in ("items.parquet", "users.parquet", STATS_FILE, CONFIG_FILE)
        if not (path / name).is_file()
    ]
    if not (path / "events.parquet").is_file() and not (path / EVENTS_DIR).is_dir():
        missing.insert(0, "events.parquet")
    if missing:
        raise DataError(
            f"not a prepared dataset (missing {', '.join(missing)}); create one with `hiertcn prepare`",
            path=path,
        )
    config = read_config(path)
    if "files" in config:  # sizes and sha256 recorded at write time (`integrity`)
        integrity.verify_files(path, config["files"])
    return config, read_json(path / STATS_FILE)


def read_json(path):
    """A JSON object file, with an unreadable or damaged one a `DataError` naming it."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"unreadable JSON (damaged or truncated?): {error}", path=path) from None
    if not isinstance(value, dict):
        raise DataError(f"expected a JSON object, got {type(value).__name__}", path=path)
    return value


def read_parquet(path):
    """`pyarrow.parquet.read_table`, with an unreadable (damaged, truncated) file a `DataError`."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"cannot read the Parquet file (damaged or truncated?): {error}; prepare "
                        "the data again", path=path) from None


def event_files(path):
    """The Parquet files holding a prepared folder's events, in event order.

    The pandas engine writes one `events.parquet`; the Spark engine writes `events/part-*.parquet`,
    one part per bucket of users, named so that the parts in name order, concatenated, are the
    events in (user, time, row) order (docs/spark.md).

    Args:
        path: str or Path. A prepared folder.

    Returns:
        list of Path.
    """
    path = Path(path)
    if (path / "events.parquet").is_file():
        return [path / "events.parquet"]
    parts = sorted((path / EVENTS_DIR).glob("part-*.parquet"))
    if not parts:
        raise DataError("no part-*.parquet files", path=path / EVENTS_DIR)
    return parts


def read_events(path):
    """A prepared folder's events as arrays, from `events.parquet` or the `events/` parts.

    Args:
        path: str or Path. A prepared folder.

    Returns:
        dict of column name → array `[n]` (`EVENT_COLUMNS`), identical for both layouts.
    """
    columns = {c: [] for c in EVENT_COLUMNS}
    last_user = 0
    for file in event_files(path):
        table = read_parquet(file)
        absent = [c for c in EVENT_COLUMNS if c not in table.column_names]
        if absent:
            raise DataError(f"missing columns {absent}", path=file)
        user = table.column("user").to_numpy()
        if len(user) and user[0] <= last_user and file.parent.name == EVENTS_DIR:
            raise DataError(
                f"part starts at user {user[0]} but an earlier part reached user {last_user}: each user "
                "must be whole in one part and parts in user order; prepare again",
                path=file,
            )
        last_user = user[-1] if len(user) else last_user
        for c in EVENT_COLUMNS:
            columns[c].append(table.column(c).to_numpy())
    return {c: arrays[0] if len(arrays) == 1 else np.concatenate(arrays) for c, arrays in columns.items()}
