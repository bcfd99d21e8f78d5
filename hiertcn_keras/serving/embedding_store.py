"""The item embedding store: a memory-mapped `[n_items, D]` matrix plus its id index.

One on-disk format serves training (HierTCN's pretrained item space, `--item-embeddings`) and
online serving. A store is a folder:

- `embeddings.bin`: the raw matrix, little-endian, row-major, `float32` or `float16`.
- `ids.parquet`: one column `item_id`, row `i` = the item id of matrix row `i`; row 0 is the
  padding row, its id is null.
- `manifest.json`: format version, `n_items`, `dim`, `dtype`, `nbytes`, `sha256` of
  `embeddings.bin`, the training config and the creation time.
- A store written by many workers (`store_shards.write_shard`) has `sharding` in its manifest
  and `shards/shard-i-of-n.json` records, one per shard, each with its rows' sha256.

Opening maps the file (`numpy.memmap`, read-only) instead of reading it, so it costs the same
for 10 items or 10M: the kernel pages rows in when they are first gathered, and processes that
open the same store share those pages (the "huge-page table" of DESIGN.md §3; the mapping asks
for transparent huge pages where Linux offers them). `numpy.save`/`numpy.load(mmap_mode="r")`
would map too, but has no place for the ids, the config or a checksum, hence this small format.

The store never alters the data: row 0 is written and read back exactly as given. The models
zero the padding row themselves (by masking index 0), so a store written from any matrix is
safe to train from.

Example:

>>> path = write_store(tmp / "items", matrix, [None, "a", "b"])       # doctest: +SKIP
>>> with EmbeddingStore.open(path) as store:                          # doctest: +SKIP
...     store.vectors(store.index_of(["b", "a"]))                     # [2, dim] float32
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import mmap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hiertcn_keras.atomic import atomic_dir, write_json
from hiertcn_keras.data.errors import DataError

FORMAT = "hiertcn-embedding-store"
FORMAT_VERSION = 1
EMBEDDINGS_FILE = "embeddings.bin"
IDS_FILE = "ids.parquet"
MANIFEST_FILE = "manifest.json"
DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}
VERIFY_MODES = ("finite", "size", "full", "none")
ID_COLUMN = "item_id"

# Rows are converted, checked and hashed in chunks of about this many bytes, so writing a store
# never holds a second full copy of the matrix in memory.
_CHUNK_BYTES = 64 << 20


def write_store(path, matrix, ids, *, dtype="float32", config=None, overwrite=True, force=False):
    """Write an embedding store folder atomically (a failed write leaves nothing behind).

    Args:
        path: str or Path. The store folder to create.
        matrix: array-like `[n_items, dim]` of finite floats; row 0 is the padding row and is
            stored as given (models zero it themselves). A `numpy.memmap` is streamed.
        ids: sequence of length `n_items`: the item id of each row; `ids[0]` (padding) must be
            `None` or `""`, the others unique and non-null.
        dtype: str. `"float32"` or `"float16"` on disk. Defaults to `"float32"`.
        config: dict, frozen dataclass or `None`. The training config, kept in the manifest.
            Defaults to `None`.
        overwrite: bool. Replace an existing store (or an empty folder). Defaults to `True`.
        force: bool. Replace an existing folder even if it is not a store (see
            `hiertcn_keras.output_guard`). Defaults to `False`.

    Returns:
        Path of the store folder.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    disk_dtype = DTYPES[dtype]
    if not hasattr(matrix, "shape") or not hasattr(matrix, "dtype"):
        matrix = np.asarray(matrix)
    if len(matrix.shape) != 2:
        raise ValueError(f"matrix must be 2-D [n_items, dim], got shape {tuple(matrix.shape)}")
    n_items, dim = (int(s) for s in matrix.shape)
    if n_items < 1 or dim < 1:
        raise ValueError(f"matrix must have ≥ 1 row (padding) and ≥ 1 column, got shape "
                         f"{(n_items, dim)}")
    if not (np.issubdtype(matrix.dtype, np.floating) or np.issubdtype(matrix.dtype, np.integer)):
        raise ValueError(f"matrix must hold numbers, got dtype {matrix.dtype}")
    id_array = _ids_to_arrow(ids, n_items)
    config_dict = _config_to_dict(config)

    path = Path(path)
    with atomic_dir(path, overwrite=overwrite, kind="store", force=force) as tmp:
        digest = hashlib.sha256()
        rows_per_chunk = max(1, _CHUNK_BYTES // (dim * disk_dtype.itemsize))
        with open(tmp / EMBEDDINGS_FILE, "wb") as f:
            for start in range(0, n_items, rows_per_chunk):
                with np.errstate(over="ignore"):  # overflow is reported just below
                    chunk = np.ascontiguousarray(matrix[start:start + rows_per_chunk],
                                                 dtype=disk_dtype)
                # Checked after the cast: a finite float32 above 65504 becomes inf in float16.
                finite = np.isfinite(chunk).all(axis=1)
                if not finite.all():
                    row = start + int(np.argmin(finite))
                    raise ValueError(f"matrix must be finite as {dtype}; row {row} is "
                                     f"{np.asarray(matrix[row])[:8].tolist()}"
                                     f"{' …' if dim > 8 else ''}")
                data = chunk.tobytes()
                digest.update(data)
                f.write(data)
        pq.write_table(pa.table({ID_COLUMN: id_array}), tmp / IDS_FILE)
        write_json(tmp / MANIFEST_FILE, {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "n_items": n_items,
            "dim": dim,
            "dtype": dtype,
            "byte_order": "little",
            "nbytes": n_items * dim * disk_dtype.itemsize,
            "sha256": digest.hexdigest(),
            "config": config_dict,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        })
    return path


def save_npy_as_store(npy_path, store_path, ids, **kwargs):
    """Convert a `.npy` matrix to a store, streaming it through a memory map.

    Args:
        npy_path: str or Path. A `.npy` file holding `[n_items, dim]`.
        store_path: str or Path. The store folder to create.
        ids: sequence of length `n_items`, as for `write_store`.
        **kwargs: passed to `write_store` (`dtype`, `config`, `overwrite`).

    Returns:
        Path of the store folder.
    """
    matrix = np.load(npy_path, mmap_mode="r", allow_pickle=False)
    return write_store(store_path, matrix, ids, **kwargs)


class EmbeddingStore:
    """A read-only, memory-mapped item embedding store; build it with `EmbeddingStore.open`.

    Attributes:
        matrix: read-only `numpy.memmap` `[n_items, dim]` in the on-disk dtype.
        n_items: int. Rows, the padding row 0 included.
        dim: int. Embedding width.
        dtype: str. `"float32"` or `"float16"`.
        config: dict or `None`. The training config recorded at write time.
        manifest: dict. The whole manifest.
        path: Path. The store folder.
    """

    def __init__(self, path, manifest, matrix):
        self.path = Path(path)
        self.manifest = manifest
        self.matrix = matrix
        # A plain ndarray over the same pages: fancy indexing a memmap subclass would return
        # a memmap-typed copy, which confuses callers that test `isinstance(x, np.memmap)`.
        self._array = matrix.view(np.ndarray)
        self.n_items = int(manifest["n_items"])
        self.dim = int(manifest["dim"])
        self.dtype = manifest["dtype"]
        self.config = manifest.get("config")
        self._ids = None
        self._item_ids = None
        self._index = None

    @classmethod
    def open(cls, path, *, verify="finite"):
        """Map a store, checking it as asked.

        Args:
            path: str or Path. The store folder.
            verify: str. `"size"` checks `embeddings.bin`'s size against the manifest (O(1)),
                and for a sharded store that every shard is written; `"finite"` also streams
                over the matrix in chunks and refuses a NaN or infinite value (reads the file
                once, a few hundred MB/s of pages that a server maps anyway); `"full"` also
                recomputes the sha256 (of every shard's rows for a sharded store), which
                catches any changed value; `"none"` trusts it. Defaults to `"finite"`.

        Returns:
            `EmbeddingStore`.

        Raises:
            DataError: missing or unreadable manifest, unknown format version, a matrix file of
                the wrong size or with the wrong checksum.
        """
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
        path = Path(path)
        manifest = _read_manifest(path)
        disk_dtype = DTYPES[manifest["dtype"]]
        expected = manifest["n_items"] * manifest["dim"] * disk_dtype.itemsize
        bin_path = path / EMBEDDINGS_FILE
        if not bin_path.is_file():
            raise DataError("embeddings file is missing", path=bin_path)
        if manifest.get("nbytes", expected) != expected:
            raise DataError(f"manifest nbytes {manifest['nbytes']} does not match n_items × dim "
                            f"× itemsize = {manifest['n_items']} × {manifest['dim']} × "
                            f"{disk_dtype.itemsize} = {expected}", path=path / MANIFEST_FILE)
        if verify != "none":
            actual = bin_path.stat().st_size
            if actual != expected:
                what = "truncated" if actual < expected else "too long"
                raise DataError(f"file is {what}: {actual} bytes, expected {expected} "
                                f"({manifest['n_items']} × {manifest['dim']} {manifest['dtype']})",
                                path=bin_path)
        if manifest.get("sharding") is not None:
            from hiertcn_keras.serving.store_shards import verify_shards

            if verify != "none":
                verify_shards(path, manifest, full=verify == "full")
        elif verify == "full":
            actual_sha = _sha256_file(bin_path)
            if actual_sha != manifest.get("sha256"):
                raise DataError(f"checksum mismatch: sha256 {actual_sha}, manifest says "
                                f"{manifest.get('sha256')}", path=bin_path)
        shape = (manifest["n_items"], manifest["dim"])
        try:
            matrix = np.memmap(bin_path, dtype=disk_dtype, mode="r", shape=shape)
        except ValueError as error:  # e.g. shorter than the shape, with verify="none"
            raise DataError(f"cannot map {shape} {manifest['dtype']}: {error}",
                            path=bin_path) from error
        if verify in ("finite", "full"):
            _check_finite(matrix, bin_path)
        _advise_huge_pages(matrix)
        return cls(path, manifest, matrix)

    # -- ids ---------------------------------------------------------------------------------

    @property
    def ids(self):
        """Object array `[n_items]`: the item id of each row (`ids[0]` is `None`, padding)."""
        self._check_open()
        if self._ids is None:
            ids_path = self.path / IDS_FILE
            try:
                column = pq.read_table(ids_path).column(ID_COLUMN)
            except (OSError, KeyError, pa.ArrowException) as error:
                raise DataError(f"cannot read the id index: {error}", path=ids_path) from error
            if len(column) != self.n_items:
                raise DataError(f"{len(column)} ids for {self.n_items} matrix rows",
                                path=ids_path, column=ID_COLUMN)
            # Rows 1.. as numpy (int64 or object strings): the index below hashes them in C.
            self._item_ids = column.slice(1).to_numpy(zero_copy_only=False)
            ids = np.empty(self.n_items, dtype=object)
            ids[1:] = self._item_ids
            self._ids = ids
        return self._ids

    def index_of(self, ids, *, missing="raise"):
        """Row indices of item ids.

        Args:
            ids: an item id or a sequence of them.
            missing: str. `"raise"`: unknown ids raise `KeyError` naming them; `"ignore"`:
                they map to -1. Defaults to `"raise"`.

        Returns:
            int64 array `[len(ids)]` (an int for a single id).
        """
        if missing not in ("raise", "ignore"):
            raise ValueError(f"missing must be 'raise' or 'ignore', got {missing!r}")
        scalar = np.ndim(ids) == 0 and not isinstance(ids, (list, tuple))
        query = [ids] if scalar else ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
        if self._index is None:
            # A hash index over rows 1.. (row 0 is padding, not an item); pandas builds it in C.
            self.ids  # loads self._item_ids
            self._index = pd.Index(self._item_ids)
            if not self._index.is_unique:
                dupes = self._index[self._index.duplicated()].unique()[:5].tolist()
                raise DataError(f"duplicate item ids, e.g. {dupes}", path=self.path / IDS_FILE,
                                column=ID_COLUMN)
        found = self._index.get_indexer(pd.Index(query)).astype(np.int64)
        unknown = found < 0
        found[~unknown] += 1
        if unknown.any() and missing == "raise":
            names = [query[k] for k in np.flatnonzero(unknown)[:10]]
            more = f" and {int(unknown.sum()) - len(names)} more" if unknown.sum() > 10 else ""
            raise KeyError(f"unknown item ids: {names}{more}")
        return int(found[0]) if scalar else found

    # -- vectors -----------------------------------------------------------------------------

    def vectors(self, indices):
        """Gather rows as float32.

        Args:
            indices: int array-like of any shape `[...]`, values in `[0, n_items)`.

        Returns:
            float32 array `[..., dim]`.
        """
        self._check_open()
        indices = np.asarray(indices)
        if indices.size and not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"indices must be integers, got dtype {indices.dtype}")
        indices = indices.astype(np.int64, copy=False)
        bad = (indices < 0) | (indices >= self.n_items)
        if bad.any():
            raise IndexError(f"indices must be in [0, {self.n_items}), got "
                             f"{indices[bad][:10].tolist()}")
        return self._array[indices].astype(np.float32, copy=False)

    def as_array(self, dtype="float32"):
        """A full in-memory copy of the matrix (reads the whole file).

        Args:
            dtype: str or numpy dtype. Defaults to `"float32"`.

        Returns:
            array `[n_items, dim]`, writable, owned by the caller.
        """
        self._check_open()
        return np.array(self._array, dtype=dtype, copy=True)

    # -- lifetime ----------------------------------------------------------------------------

    def close(self):
        """Drop this store's references to the mapping; it is unmapped once no array uses it.

        Views the caller still holds (`store.matrix`, slices of it) stay valid: closing the
        mapping under them would crash the process, so numpy keeps it alive until they go.
        """
        self.matrix = None
        self._array = None
        self._index = None

    @property
    def closed(self):
        return self._array is None

    def _check_open(self):
        if self._array is None:
            raise ValueError(f"embedding store {self.path} is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return (f"EmbeddingStore({str(self.path)!r}, n_items={self.n_items}, dim={self.dim}, "
                f"dtype={self.dtype!r}, {state})")


def _read_manifest(path):
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


def _ids_to_arrow(ids, n_items):
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


def _config_to_dict(config):
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


def _check_finite(matrix, path):
    """Raise `DataError` naming the first row of `matrix` that holds a NaN or an infinity.

    Streams over the mapped file in chunks of about `_CHUNK_BYTES`, so it never holds a copy.
    """
    n_items, dim = matrix.shape
    rows_per_chunk = max(1, _CHUNK_BYTES // max(1, dim * matrix.dtype.itemsize))
    array = matrix.view(np.ndarray)
    for start in range(0, n_items, rows_per_chunk):
        chunk = array[start:start + rows_per_chunk]
        if np.isfinite(chunk.sum(axis=1, dtype=np.float64)).all():
            continue  # the usual case: one reduction per chunk (a non-finite value makes the sum so)
        finite = np.isfinite(chunk).all(axis=1)
        if finite.all():
            continue  # finite values whose sum overflowed
        row = start + int(np.argmin(finite))
        raise DataError(f"row {row} holds a non-finite value ({np.asarray(array[row])[:8].tolist()}"
                        f"{' …' if dim > 8 else ''}): the store is damaged; write it again "
                        "(`hiertcn embed-items`)", path=path)


def _sha256_file(path, chunk=8 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _advise_huge_pages(matrix):
    # Transparent huge pages cut TLB misses on random row gathers over a large table. The
    # advice is a hint: skipped where Python/Linux lack it or the kernel refuses it.
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    raw = getattr(matrix, "_mmap", None)
    if advice is None or raw is None or not hasattr(raw, "madvise"):
        return
    try:
        raw.madvise(advice)
    except (OSError, ValueError):
        pass
