"""A synthetic log on disk: the CSV, the generator's parameters and the oracle beside it.

    LOG.csv                 user_id,item_id,timestamp (what `hiertcn prepare` reads)
    LOG.generator.json      format version, the `SyntheticConfig`, the catalogue
    LOG.oracle.parquet      every click with its true session, oracle rank and probability
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from hiertcn_keras.artifacts.atomic import atomic_write
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.data.synthetic import EVENT_COLUMNS, SyntheticConfig, SyntheticLog

FORMAT = "hiertcn-synthetic"
FORMAT_VERSION = 1


def sidecars(path):
    """`(generator.json, oracle.parquet)` paths beside a synthetic log's CSV."""
    path = pathlib.Path(path)
    return (path.with_name(path.stem + ".generator.json"),
            path.with_name(path.stem + ".oracle.parquet"))


def _write_csv(events, target):
    """Write `events` as CSV with an unquoted header (pyarrow: ~10x faster than pandas)."""
    with open(target, "wb") as f:
        f.write((",".join(events.columns) + "\n").encode())
        table = pa.Table.from_pandas(events, preserve_index=False)
        pa_csv.write_csv(table, f, pa_csv.WriteOptions(include_header=False))


def save(log, path):
    """Write the log as CSV plus the generator's parameters and the oracle next to it.

    Writes `path` (columns `user_id,item_id,timestamp`), `<stem>.generator.json` (format
    version, config, catalogue) and `<stem>.oracle.parquet`, each atomically (temporary file in
    the same folder, then rename), so a reader never sees half a file.

    Args:
        log: `SyntheticLog`.
        path: str or path-like. The CSV file to write; its folder is created if needed.

    Returns:
        `pathlib.Path` of the CSV.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path, oracle_path = sidecars(path)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": dataclasses.asdict(log.config),
        "n_events": int(len(log.events)),
        "item_topic": log.item_topic.tolist(),
        "successor": log.successor.tolist(),
        "item_popularity_within_topic": log.item_popularity_within_topic.tolist(),
    }
    atomic_write(oracle_path, lambda tmp: log.oracle.to_parquet(tmp, index=False))
    atomic_write(meta_path, lambda tmp: pathlib.Path(tmp).write_text(json.dumps(meta)))
    # The CSV goes last: once it exists, its sidecars do too.
    atomic_write(path, lambda tmp: _write_csv(log.events, tmp))
    return path


def load_generator(path):
    """Read back what `save` wrote.

    Args:
        path: str or path-like. The CSV written by `save`.

    Returns:
        A `SyntheticLog` equal to the saved one.

    Raises:
        DataError: a sidecar file is missing, of another format or version, or disagrees with
            the CSV.
    """
    path = pathlib.Path(path)
    meta_path, oracle_path = sidecars(path)
    for needed in (path, meta_path, oracle_path):
        if not needed.exists():
            raise DataError("missing; was the log written by synthetic_io.save?", path=needed)
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"expected format {FORMAT!r} version {FORMAT_VERSION}, got "
            f"{meta.get('format')!r} version {meta.get('format_version')!r}", path=meta_path
        )
    try:
        config = SyntheticConfig(**meta["config"])
    except (TypeError, ValueError) as err:
        raise DataError(f"bad config: {err}", path=meta_path, column="config") from err
    try:
        events = pd.read_csv(path, dtype="int64")
    except ValueError as err:
        raise DataError(f"not a log of integers: {err}", path=path) from err
    if tuple(events.columns) != EVENT_COLUMNS:
        raise DataError(f"expected columns {list(EVENT_COLUMNS)}, got {list(events.columns)}",
                        path=path)
    oracle = pd.read_parquet(oracle_path)
    for col in EVENT_COLUMNS:
        got, want = events[col].to_numpy(), oracle[col].to_numpy()
        if len(got) != len(want) or not np.array_equal(got, want):
            bad = min(len(got), len(want))
            if len(got) == len(want):
                bad = int(np.nonzero(got != want)[0][0])
            raise DataError(f"disagrees with {oracle_path.name}", path=path, row=bad + 1,
                            column=col)
    return SyntheticLog(
        events=events,
        item_topic=np.asarray(meta["item_topic"], dtype=np.int64),
        successor=np.asarray(meta["successor"], dtype=np.int64),
        item_popularity_within_topic=np.asarray(meta["item_popularity_within_topic"]),
        config=config,
        oracle=oracle,
    )
