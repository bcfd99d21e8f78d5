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

Opening maps the file (`numpy.memmap`, read-only) instead of reading it, so it costs the same for 10
items or 10M: the kernel pages rows in when they are first gathered, and processes that open the
same store share those pages (the "huge-page table" of docs/concepts.md#item-embeddings; the mapping
asks for transparent huge pages where Linux offers them). `numpy.save`/`numpy.load(mmap_mode="r")`
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

import hashlib
import mmap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hiertcn_keras.artifacts.atomic import atomic_dir, write_json
from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.hashing import sha256_file
from hiertcn_keras.artifacts.store_format import (  # noqa: F401  (the format's names, re-read here)
    DTYPES,
    EMBEDDINGS_FILE,
    FORMAT,
    FORMAT_VERSION,
    ID_COLUMN,
    IDS_FILE,
    MANIFEST_FILE,
    build_manifest,
    config_to_dict,
    ids_to_arrow,
    read_manifest,
)
from hiertcn_keras.artifacts.store_shards import verify_shards

VERIFY_MODES = ("finite", "size", "full", "none")

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
            `hiertcn_keras.artifacts.output_guard`). Defaults to `False`.

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
    id_array = ids_to_arrow(ids, n_items)
    config_dict = config_to_dict(config)

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
        write_json(tmp / MANIFEST_FILE, build_manifest(n_items, dim, dtype, sha256=digest.hexdigest(),
                                                       config=config_dict))
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
        manifest = read_manifest(path)
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
            if verify != "none":
                verify_shards(path, manifest, full=verify == "full")
        elif verify == "full":
            actual_sha = sha256_file(bin_path)
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
