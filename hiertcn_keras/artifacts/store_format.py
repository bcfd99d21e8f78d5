"""The embedding store's format: file names, dtypes, and the manifest every store carries.

A store folder holds `embeddings.bin` (the raw matrix), `ids.parquet` (one `item_id` per row,
null at the padding row 0) and `manifest.json`; a sharded store also `shards/` (see
`store_shards`). `embedding_store` (whole stores) and `store_shards` (many workers, one store)
both build and read the manifest here, so the two writers cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from hiertcn_keras.artifacts.errors import DataError

FORMAT = "hiertcn-embedding-store"
FORMAT_VERSION = 1
EMBEDDINGS_FILE = "embeddings.bin"
IDS_FILE = "ids.parquet"
MANIFEST_FILE = "manifest.json"
DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}
VERIFY_MODES = ("size", "full", "none")
ID_COLUMN = "item_id"


def build_manifest(n_items, dim, dtype, *, sha256, config, sharding=None):
    """The manifest of a store of `n_items × dim` rows in `dtype`.

    Args:
        n_items: int. Rows, padding included.
        dim: int. Columns.
        dtype: str. `"float32"` or `"float16"`.
        sha256: str or `None`. Checksum of `embeddings.bin` (`None` for a sharded store: each
            shard records its own).
        config: dict or `None`, already JSON-safe (`config_to_dict`).
        sharding: dict or `None`. `{"n_shards", "model_fingerprint"}` of a sharded store.

    Returns:
        dict, in the key order written to `manifest.json`.
    """
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "n_items": int(n_items),
        "dim": int(dim),
        "dtype": dtype,
        "byte_order": "little",
        "nbytes": int(n_items) * int(dim) * DTYPES[dtype].itemsize,
        "sha256": sha256,
    }
    if sharding is not None:
        manifest["sharding"] = sharding
    manifest["config"] = config
    manifest["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return manifest


def read_manifest(path):
    """Read and check a store folder's `manifest.json`.

    Args:
        path: Path. The store folder.

    Returns:
        dict, the manifest.

    Raises:
        DataError: no folder, no or an unreadable manifest, another format or version, bad
            `n_items`/`dim`/`dtype`/`byte_order`.
    """
    manifest_path = path / MANIFEST_FILE
    if not path.is_dir():
        raise DataError("embedding store folder not found", path=path)
    if not manifest_path.is_file():
        raise DataError("missing manifest; not an embedding store (or an unfinished write)",
                        path=manifest_path)
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"unreadable manifest: {error}", path=manifest_path) from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DataError(f"not an embedding store manifest: format {got!r}, expected {FORMAT!r}",
                        path=manifest_path)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise DataError(f"unknown format version {version!r}; this code reads version "
                        f"{FORMAT_VERSION}", path=manifest_path)
    for key in ("n_items", "dim"):
        value = manifest.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DataError(f"{key} must be an int ≥ 1, got {value!r}", path=manifest_path,
                            column=key)
    if manifest.get("dtype") not in DTYPES:
        raise DataError(f"dtype must be one of {sorted(DTYPES)}, got {manifest.get('dtype')!r}",
                        path=manifest_path, column="dtype")
    if manifest.get("byte_order", "little") != "little":
        raise DataError(f"byte_order must be 'little', got {manifest['byte_order']!r}",
                        path=manifest_path, column="byte_order")
    return manifest


def ids_to_arrow(ids, n_items):
    """Check a store's item ids (row 0 padding, then unique non-null ids) → a pyarrow array.

    Args:
        ids: sequence of length `n_items`.
        n_items: int. Matrix rows.

    Returns:
        `pyarrow.Array` `[n_items]` with a null at row 0.

    Raises:
        ValueError: wrong length, a non-padding row 0, a null, a duplicate or mixed types.
    """
    ids = list(ids.tolist() if hasattr(ids, "tolist") else ids)
    if len(ids) != n_items:
        raise ValueError(f"ids must have one entry per matrix row: {len(ids)} ids for "
                         f"{n_items} rows (row 0 is padding, its id None)")
    if ids[0] not in (None, ""):
        raise ValueError(f"ids[0] is the padding row and must be None or '', got {ids[0]!r}")
    ids[0] = None
    null_rows = [k for k, v in enumerate(ids[1:], start=1)
                 if v is None or v == "" or (isinstance(v, float) and np.isnan(v))]
    if null_rows:
        raise ValueError(f"ids must be non-null past row 0; null at rows {null_rows[:10]}")
    try:
        array = pa.array(ids)
    except (pa.ArrowException, TypeError, ValueError) as error:
        raise ValueError(f"ids must be all strings or all integers: {error}") from error
    index = pd.Index(ids[1:])
    if not index.is_unique:
        dupes = index[index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"ids must be unique; duplicated: {dupes}")
    return array


def config_to_dict(config):
    """A config (dict, frozen dataclass or `None`) as a JSON-safe dict (or `None`).

    Raises:
        ValueError: another type, or a value JSON cannot hold.
    """
    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict, a dataclass or None, got "
                         f"{type(config).__name__}")
    try:
        # Round-trip now so a non-JSON value fails before anything is written.
        return json.loads(json.dumps(config, default=_json_default))
    except TypeError as error:
        raise ValueError(f"config must be JSON-serializable: {error}") from error


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
