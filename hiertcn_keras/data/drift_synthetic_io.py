"""Files of the drift generator's logs: the CSV, its parameters and its oracle (atomic writes).

`save_drift` writes `FILE.csv` (generic format), `FILE.generator.json` (format
`hiertcn-drift-synthetic`, the config, item births and successors) and `FILE.oracle.parquet`
(see `drift_synthetic`); `load_drift_oracle` reads the oracle back for `data/oracle.py`.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pandas as pd

from hiertcn_keras.artifacts import atomic
from hiertcn_keras.artifacts.errors import DataError

FORMAT = "hiertcn-drift-synthetic"
FORMAT_VERSION = 1


def _sidecars(path):
    path = pathlib.Path(path)
    return path.with_name(path.stem + ".generator.json"), path.with_name(path.stem + ".oracle.parquet")


def save_drift(log, path):
    """Write the log CSV, `<stem>.generator.json` and `<stem>.oracle.parquet`, each atomically.

    Args:
        log: `DriftLog`.
        path: str or Path of the CSV; its folder is created.

    Returns:
        `pathlib.Path` of the CSV.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_path, oracle_path = _sidecars(path)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": dataclasses.asdict(log.config),
            "n_events": int(len(log.events)), "item_birth": log.item_birth.tolist(),
            "successors": log.successors.tolist()}
    with atomic.atomic_file(oracle_path, "wb") as f:
        log.oracle.to_parquet(f, index=False)
    atomic.write_json(meta_path, meta)
    with atomic.atomic_file(path) as f:  # the CSV last: once it exists, its sidecars do too
        log.events.to_csv(f, index=False)
    return path


def is_drift_log(path):
    """Whether `path`'s generator sidecar says it was written by `save_drift`."""
    meta_path = _sidecars(path)[0]
    if not meta_path.is_file():
        return False
    return json.loads(meta_path.read_text()).get("format") == FORMAT


def load_drift_oracle(path):
    """The oracle frame saved next to a drift log by `save_drift`.

    Args:
        path: str or Path. The CSV.

    Returns:
        DataFrame (see the module docstring).

    Raises:
        DataError: a sidecar is missing or of another format.
    """
    meta_path, oracle_path = _sidecars(path)
    for needed in (meta_path, oracle_path):
        if not needed.is_file():
            raise DataError("missing; was the log written by drift_synthetic.save_drift?", path=needed)
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"expected format {FORMAT!r} version {FORMAT_VERSION}, got {meta.get('format')!r} "
                        f"version {meta.get('format_version')!r}", path=meta_path)
    return pd.read_parquet(oracle_path)
