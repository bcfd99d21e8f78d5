"""`ItemCatalog`: item ids ↔ model indices, and the item vectors that online ranking scores.

Shape legend: N = n_catalogue rankable items, E user-embedding size.

Scores are always the run's own: `u · w_i (+ b_i)` with the table the model was trained to
score (`Recommender.item_table`), rows `1..N`:

- *learned* item space: the untied output table and bias (`OutputItems`). The input
  embeddings differ and are not used for ranking. An item store (`--items`) is optional; when
  given, only its ids are used, to check that it names every item of the run's vocabulary (its
  vectors are ignored, whatever their dimension).
- *pretrained* item space: the frozen item vectors, which are the store's vectors. With a store
  its dimension must equal E and its vectors must equal the model's (checked row by row for the
  catalogue, in chunks); when its rows 1..N are the catalogue in vocabulary order (a store that
  `hiertcn embed-items` wrote for this dataset) and float32, ranking reads the memory map
  itself (no copy, shared between processes); otherwise the rows are gathered once.

Item ids are strings (the vocabulary's); integer ids in requests are matched by their text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hiertcn_keras.artifacts.errors import DataError


class UnknownItemError(KeyError):
    """An item id that is not in the run's vocabulary."""

    def __str__(self):
        return str(self.args[0]) if self.args else "unknown item"


class ItemCatalog:
    """The run's item vocabulary and ranking table.

    Args:
        item_ids: object array `[n_items]` of ids per model index (`[0]` = padding).
        n_catalogue: int. N.
        table: float32 array `[N + 1, E]` (row 0 unused; may be a read-only memory map).
        bias: float32 array `[N + 1]` or `None`.
        source: str. Where `table` came from, for logs and `/healthz`.

    Example:

    >>> catalog = ItemCatalog.from_run(serving_run, store_dir="items")  # doctest: +SKIP
    >>> catalog.index_of(["i3", "i9"])
    array([4, 1])
    """

    def __init__(self, item_ids, n_catalogue, table, bias=None, source=""):
        self.item_ids = item_ids
        self.n_catalogue = int(n_catalogue)
        self.table = table
        self.bias = bias
        self.source = source
        self._index = pd.Index(item_ids[1:])
        if not self._index.is_unique:
            raise ValueError(f"duplicate item ids in the vocabulary, e.g. "
                             f"{self._index[self._index.duplicated()][:5].tolist()}")
        if table.shape[0] != self.n_catalogue + 1:
            raise ValueError(f"ranking table has {table.shape[0]} rows, expected n_catalogue + 1 = "
                             f"{self.n_catalogue + 1}")

    @property
    def dim(self):
        return int(self.table.shape[1])

    def index_of(self, ids, *, missing="raise"):
        """Model indices of item ids.

        Args:
            ids: a sequence of ids (str or int).
            missing: str. `"raise"`: an unknown id raises `UnknownItemError` naming it;
                `"ignore"`: it maps to -1. Defaults to `"raise"`.

        Returns:
            int64 array `[len(ids)]`.
        """
        query = [str(i) for i in ids]
        found = self._index.get_indexer(pd.Index(query, dtype=object)).astype(np.int64)
        unknown = found < 0
        found[~unknown] += 1
        if unknown.any() and missing == "raise":
            names = [query[k] for k in np.flatnonzero(unknown)[:10]]
            raise UnknownItemError(f"unknown item ids (not in the run's vocabulary): {names}")
        return np.where(unknown, -1, found)

    def index_of_one(self, item_id):
        """The model index of one item id, or -1 when unknown (a hash lookup, no arrays)."""
        try:
            return int(self._index.get_loc(str(item_id))) + 1
        except KeyError:
            return -1

    def ids_of(self, indices):
        """Item ids (str) of model indices."""
        return [self.item_ids[int(i)] for i in indices]

    @classmethod
    def from_run(cls, run, store_dir=None, *, check_chunk=65536):
        """The catalogue of a `ServingRun`, checked against an item store when one is given.

        Args:
            run: `ServingRun`.
            store_dir: str, Path or `None`. An embedding store folder (`embedding_store`).
            check_chunk: int. Rows compared per chunk when checking store vectors.

        Returns:
            `ItemCatalog`.
        """
        model = run.recommender
        config = model.model_config
        n = run.n_catalogue
        table, bias = model.item_table()
        table = np.asarray(table, dtype=np.float32)[: n + 1]
        bias = None if bias is None else np.asarray(bias, dtype=np.float32)[: n + 1]
        source = f"run {run.run_dir} ({config.item_space} item space)"
        if store_dir is None:
            return cls(run.item_ids, n, table, bias, source)

        from hiertcn_keras.artifacts.embedding_store import EmbeddingStore

        store = EmbeddingStore.open(store_dir)
        rows = store.index_of(list(run.item_ids[1:]), missing="ignore")
        if (rows < 0).any():
            missing = [run.item_ids[1 + k] for k in np.flatnonzero(rows < 0)[:10]]
            raise DataError(f"the store lacks {int((rows < 0).sum())} item ids of the run's vocabulary, "
                            f"e.g. {missing}", path=store_dir)
        if config.item_space == "learned":
            store.close()
            return cls(run.item_ids, n, table, bias,
                       source + f"; store {store_dir} checked for ids only (a learned run ranks by its output layer)")
        if store.dim != table.shape[1]:
            raise DataError(f"store vectors have dim {store.dim}, the run's item vectors {table.shape[1]}",
                            path=store_dir)
        catalogue_rows = rows[:n]
        for start in range(0, n, check_chunk):
            stop = min(n, start + check_chunk)
            vectors = store.vectors(catalogue_rows[start:stop])
            if not np.allclose(vectors, table[1 + start : 1 + stop], rtol=0, atol=1e-6):
                worst = start + int(np.abs(vectors - table[1 + start : 1 + stop]).max(axis=1).argmax())
                raise DataError(f"store vectors differ from the run's frozen item vectors (first at item "
                                f"{run.item_ids[1 + worst]!r}): not the store this run was trained with",
                                path=store_dir)
        if store.dtype == "float32" and np.array_equal(catalogue_rows, np.arange(1, n + 1)):
            table = np.asarray(store.matrix[: n + 1])  # a view of the memory map, rows in vocabulary order
            source = f"store {store_dir} (memory-mapped, pretrained item space)"
        else:
            source = f"store {store_dir} (rows gathered into vocabulary order, pretrained item space)"
        return cls(run.item_ids, n, table, None, source)
