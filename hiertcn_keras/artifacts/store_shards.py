"""Sharded writes of one embedding store: many workers fill one `embeddings.bin`.

At catalogue scale the item model is trained once, then many workers embed a slice of the
catalogue each (`hiertcn embed-items --model item_model.keras --shard i/n`). They all write into
the same store folder, independently and in any order:

- `embeddings.bin` is created at its full size by whichever worker comes first (creating and
  extending a file to the same size is idempotent), and each worker writes only its own row
  range, at its byte offset (`os.pwrite`): no worker ever touches another's bytes.
- `ids.parquet` and `manifest.json` hold the same content for every worker (the ids come from
  the dataset's vocabulary; the manifest from the model, the shapes and the shard count), so
  each worker writes them atomically (temporary file, then rename) and a later one replaces
  them with identical bytes. A worker whose manifest differs (another model, shape, dtype or
  shard count) is refused: two runs never mix in one store.
- A worker's last act is `shards/shard-IIIII-of-NNNNN.json`: its row range and the sha256 of
  its bytes, written atomically. A worker killed before it leaves no shard file, so its rows
  count as missing, never as present.

`EmbeddingStore.open` refuses a sharded store until every shard file is present and they
agree with the manifest and tile the rows exactly (`verify_shards`); `verify="full"` also
rehashes every shard's byte range. This needs a file system where several hosts can write
one file at offsets (a local disk, NFS, Lustre, GPFS); on object storage, write the shards on
one host or write one store per shard and concatenate them.

Rows are split as `numpy.array_split` splits them: shard i of n holds rows
`[i·R//n + min(i, R%n) …)`, the first `R % n` shards one row more.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hiertcn_keras.artifacts import output_guard
from hiertcn_keras.artifacts import store_format as sf
from hiertcn_keras.artifacts.atomic import atomic_file, write_json
from hiertcn_keras.artifacts.errors import DataError

SHARDS_DIR = "shards"
# The manifest fields every worker must agree on.
_AGREED = ("format", "format_version", "n_items", "dim", "dtype", "byte_order", "nbytes", "sharding")


def parse_shard(text):
    """`"i/n"` → `(i, n)` with 0 ≤ i < n.

    Example: `parse_shard("2/8")` is `(2, 8)`: the third of eight shards.
    """
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"a shard is written i/n (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard i/n needs 0 ≤ i < n, got {text!r}")
    return index, count


def shard_rows(n_items, index, count):
    """`(start, stop)`: the matrix rows of shard `index` of `count` (array_split's split)."""
    base, extra = divmod(n_items, count)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def shard_file(path, index, count):
    """Path of shard `index`'s record in the store folder `path`."""
    return Path(path) / SHARDS_DIR / f"shard-{index:05d}-of-{count:05d}.json"


def write_shard(path, rows, ids, *, n_items, index, count, dtype="float32", model_fingerprint, config=None):
    """Write shard `index` of `count` of a store: its rows, and (identically) the shared files.

    Args:
        path: str or Path. The store folder (created by the first worker).
        rows: float array `[stop − start, dim]`: the embeddings of this shard's rows.
        ids: sequence of length `n_items`: every row's item id (row 0: `None`).
        n_items: int. Rows of the whole store.
        index: int. This shard.
        count: int. Number of shards.
        dtype: str. `"float32"` or `"float16"`. Defaults to `"float32"`.
        model_fingerprint: str. Identifies the model that embedded the rows; every shard of a
            store must come from the same one.
        config: dict or `None`. Recorded in the manifest.

    Returns:
        Path of the store folder.

    Raises:
        ValueError: `rows` is not this shard's size or not finite.
        DataError: the folder holds a store of another model, shape, dtype or shard count.
    """
    path = Path(path)
    start, stop = shard_rows(n_items, index, count)
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[0] != stop - start:
        raise ValueError(f"shard {index}/{count} of {n_items} rows holds rows [{start}, {stop}): expected "
                         f"[{stop - start}, dim], got {rows.shape}")
    disk_dtype = sf.DTYPES[dtype]
    data = np.ascontiguousarray(rows, dtype=disk_dtype)
    if not np.isfinite(data).all():
        bad = start + int(np.argmin(np.isfinite(data).all(axis=1)))
        raise ValueError(f"embeddings must be finite as {dtype}; row {bad} is not")
    dim = rows.shape[1]
    id_array = sf.ids_to_arrow(ids, n_items)  # validated before anything is written
    manifest = sf.build_manifest(
        n_items, dim, dtype, sha256=None,  # per shard, in shards/
        sharding={"n_shards": int(count), "model_fingerprint": str(model_fingerprint)},
        config=sf.config_to_dict(config),
    )
    path.mkdir(parents=True, exist_ok=True)
    manifest_path = path / sf.MANIFEST_FILE
    if not manifest_path.is_file():
        # Only this store's own files may be here: another worker of the same job can be writing
        # them right now (its manifest may appear between this check and the next).
        ours = {sf.EMBEDDINGS_FILE, sf.IDS_FILE, sf.MANIFEST_FILE, SHARDS_DIR}
        others = sorted(p.name for p in path.iterdir() if not p.name.startswith(".") and p.name not in ours)
        if others:
            raise DataError(f"this folder is not an embedding store (it holds {', '.join(others[:5])}); "
                            "shards are written into an empty folder or a store of the same model",
                            path=path)
        if not manifest_path.is_file():
            output_guard.write_marker(path, "store")
            write_json(manifest_path, manifest)
    existing = sf.read_manifest(path)
    clash = [key for key in _AGREED if existing.get(key) != manifest[key]]
    if clash:
        raise DataError(f"this folder holds another store: {', '.join(clash)} differ "
                        f"({', '.join(f'{k}={existing.get(k)!r}' for k in clash)})", path=manifest_path)
    with atomic_file(path / sf.IDS_FILE, mode="wb") as f:
        pq.write_table(pa.table({sf.ID_COLUMN: id_array}), f)
    payload = data.tobytes()
    fd = os.open(path / sf.EMBEDDINGS_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size < manifest["nbytes"]:
            os.ftruncate(fd, manifest["nbytes"])
        offset = start * dim * disk_dtype.itemsize
        written = 0
        while written < len(payload):
            written += os.pwrite(fd, payload[written:], offset + written)
        os.fsync(fd)
    finally:
        os.close(fd)
    (path / SHARDS_DIR).mkdir(exist_ok=True)
    write_json(shard_file(path, index, count), {
        "shard": int(index), "n_shards": int(count), "start": int(start), "stop": int(stop),
        "sha256": hashlib.sha256(payload).hexdigest(), "model_fingerprint": str(model_fingerprint),
    })
    return path


def verify_shards(path, manifest, *, full=False):
    """Check that a sharded store is whole: every shard present, agreeing and tiling the rows.

    Args:
        path: Path. The store folder.
        manifest: dict. Its manifest.
        full: bool. Also rehash each shard's byte range. Defaults to `False`.

    Raises:
        DataError: a shard is missing, from another model, covers the wrong rows, or (with
            `full`) its bytes do not match its checksum.
    """
    sharding = manifest["sharding"]
    count, fingerprint = int(sharding["n_shards"]), sharding["model_fingerprint"]
    n_items, dim = manifest["n_items"], manifest["dim"]
    itemsize = np.dtype(manifest["dtype"]).itemsize
    missing, records = [], []
    for index in range(count):
        record_path = shard_file(path, index, count)
        if not record_path.is_file():
            missing.append(index)
            continue
        try:
            record = json.loads(record_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(f"unreadable shard record: {error}", path=record_path) from error
        expected = shard_rows(n_items, index, count)
        if (record.get("start"), record.get("stop")) != expected:
            raise DataError(f"shard {index}/{count} covers rows [{record.get('start')}, {record.get('stop')}), "
                            f"expected [{expected[0]}, {expected[1]})", path=record_path)
        if record.get("model_fingerprint") != fingerprint:
            raise DataError(f"shard {index}/{count} comes from model {record.get('model_fingerprint')}, the store "
                            f"from {fingerprint}", path=record_path)
        records.append(record)
    if missing:
        shown = ", ".join(f"{i}/{count}" for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise DataError(f"incomplete sharded store: {len(missing)} of {count} shards not written yet ({shown})",
                        path=path)
    if not full:
        return
    with open(path / sf.EMBEDDINGS_FILE, "rb") as f:
        for record in records:
            f.seek(record["start"] * dim * itemsize)
            data = f.read((record["stop"] - record["start"]) * dim * itemsize)
            if hashlib.sha256(data).hexdigest() != record["sha256"]:
                raise DataError(f"checksum mismatch in shard {record['shard']}/{count} (rows "
                                f"[{record['start']}, {record['stop']}))", path=path / sf.EMBEDDINGS_FILE)
