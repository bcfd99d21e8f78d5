"""Serving a dated item store: the day's vectors for a fixed pretrained-space user model.

Shape legend: I = n_items (the run's vocabulary, index 0 = padding), D item dim = E, M the
store's candidates.

A store written by `hiertcn embed-items --until T` holds a vector for every item clicked before
T (its *candidates*) and a zero row for the others. Serving it with a HierTCN trained in a
*pretrained* item space (the user model fixed) means, as in the rolling evaluation:

- the model's input table is the store's vectors (a user's open session is read in them);
- ranking scores only the store's candidates: an item that is not in the store (or has a zero
  row) is never recommended;
- item ids keep the run's vocabulary indices, so a stored user state (its open session's item
  indices) stays valid across stores. A store id outside the vocabulary cannot be fed to the
  model and is counted (`n_outside_vocabulary`); a vocabulary item the store lacks gets a zero
  vector and is counted (`n_missing`).

`dated_catalog(run, store_path)` checks the store (readable, finite, the run's dimension, built
for the run's data when the manifest says so) and returns the catalogue, its candidate mask and
a report; nothing is shared with the store file afterwards (the vectors are gathered), so a
later store replacing it on disk cannot change what is being served.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.artifacts.errors import DataError
from hiertcn_keras.artifacts.store_directory import UNTIL_KEY, format_time
from hiertcn_keras.artifacts.store_format import MANIFEST_FILE
from hiertcn_keras.serving.item_catalog import ItemCatalog
from hiertcn_keras.serving.retrieval import check_queries, exclusion


class DatedStoreInfo:
    """What a dated store brought: its stamp and counts (for `/healthz` and the reload reply).

    Attributes:
        path: str. The store folder.
        name: str. Its folder name (e.g. `2017-10-16T06`).
        until: float or `None`. The stamp (Unix seconds), `None` for an unstamped store.
        n_candidates, n_missing, n_outside_vocabulary: int.
    """

    def __init__(self, path, until, n_candidates, n_missing, n_outside_vocabulary):
        self.path = str(path)
        self.name = path.name
        self.until = until
        self.n_candidates = int(n_candidates)
        self.n_missing = int(n_missing)
        self.n_outside_vocabulary = int(n_outside_vocabulary)

    @property
    def stamp(self):
        """The stamp as ISO-8601 UTC text, or the folder name for an unstamped store."""
        return self.name if self.until is None else format_time(self.until)

    def as_dict(self):
        return {"store": self.name, "path": self.path, "until": self.until, "stamp": self.stamp,
                "n_candidates": self.n_candidates, "n_missing": self.n_missing,
                "n_outside_vocabulary": self.n_outside_vocabulary}


def dated_vectors(run, store_path):
    """The run-vocabulary matrix of a dated store, checked.

    Args:
        run: `ServingRun` with a pretrained item space.
        store_path: Path. An embedding store folder.

    Returns:
        `(matrix float32 [I, D] (row 0 zero), candidates bool [I], DatedStoreInfo)`.

    Raises:
        DataError: an unreadable or damaged store, non-finite values, another dimension, a
            store built for other data, or a store with no candidate.
    """
    from hiertcn_keras.artifacts.embedding_store import EmbeddingStore

    config = run.recommender.model_config
    if config.item_space != "pretrained":
        raise ValueError(f"following dated item stores needs a run trained with --item-space pretrained; "
                         f"{run.run_dir} has a {config.item_space} item space (it ranks with its own output layer)")
    table = run.recommender.user_model.get_layer("item_embedding").table
    n_items, dim = int(table.shape[0]), int(table.shape[1])
    with EmbeddingStore.open(store_path, verify="finite") as store:
        manifest_path = store.path / MANIFEST_FILE
        if store.dim != dim:
            raise DataError(f"store vectors have dim {store.dim}, the run's item vectors {dim}: a store of "
                            "another item model", path=manifest_path, column="dim")
        stored = (store.config or {}).get("data_fingerprint")
        expected = run.record.get("data", {}).get("fingerprint")
        if stored is not None and expected is not None and stored != expected:
            raise DataError(f"the store was built for data {stored}, the run was trained on {expected}",
                            path=manifest_path, column="config.data_fingerprint")
        rows = store.index_of(list(run.item_ids[1:]), missing="ignore")
        found = rows >= 0
        matrix = np.zeros((n_items, dim), np.float32)
        matrix[1:][found] = store.vectors(rows[found])
        until = (store.config or {}).get(UNTIL_KEY)
        n_store_ids = store.n_items - 1
    if not np.isfinite(matrix).all():  # a float16 store read as float32 stays finite; belt and braces
        raise DataError("non-finite item vectors", path=store_path)
    candidates = np.zeros(n_items, dtype=bool)
    candidates[1:] = found & np.any(matrix[1:] != 0.0, axis=1)
    if not candidates.any():
        raise DataError("the store has no non-zero vector for any item of the run's vocabulary",
                        path=store_path)
    info = DatedStoreInfo(store_path, None if until is None else float(until), candidates.sum(),
                          (~found).sum(), n_store_ids - int(found.sum()))
    return matrix, candidates, info


def dated_catalog(run, store_path, checked=None):
    """The catalogue of a dated store: every vocabulary item, ranking restricted to candidates.

    Args:
        run: `ServingRun` with a pretrained item space.
        store_path: Path. An embedding store folder.
        checked: `None`, or what `dated_vectors` returned for this store and a run of the same
            vocabulary (not read again).

    Returns:
        `(ItemCatalog, candidates bool [I], DatedStoreInfo)`; the catalogue's table is the
        store's matrix (rows `1..I−1`), which is also the table to load into the model.
    """
    matrix, candidates, info = checked if checked is not None else dated_vectors(run, store_path)
    catalog = ItemCatalog(run.item_ids, len(matrix) - 1, matrix, None,
                          source=f"dated store {store_path} (stamp {info.stamp}, {info.n_candidates} candidates, "
                          "pretrained item space)")
    return catalog, candidates, info


class CandidateRetriever:
    """A retriever over a subset of the catalogue rows, answering in model indices.

    The inner retriever (exact or faiss) is built over the candidates' rows only, so items
    outside the subset are never returned, whatever `k`.

    Args:
        table: float array `[I, E]` (row 0 unused).
        candidates: bool `[I]`.
        kind: str. `exact`, `ivf` or `hnsw` (see `retrievers.build_retriever`).
        **options: passed to `build_retriever`.

    Example:

    >>> retriever = CandidateRetriever(matrix, candidates)                # doctest: +SKIP
    >>> indices, scores = retriever.search(u[None], 10, exclude=[{3}])   # model indices
    """

    def __init__(self, table, candidates, kind="exact", **options):
        from hiertcn_keras.serving.retrievers import build_retriever

        self.rows = np.flatnonzero(np.asarray(candidates, dtype=bool)).astype(np.int64)
        if len(self.rows) == 0 or self.rows[0] == 0:
            raise ValueError("candidates must hold at least one item and never the padding row 0")
        compact = np.zeros((len(self.rows) + 1, table.shape[1]), np.float32)
        compact[1:] = np.asarray(table, np.float32)[self.rows]
        self.dim = int(table.shape[1])
        self.inner = build_retriever(kind, compact, None, **options)
        self.report = {**self.inner.report, "candidates": int(len(self.rows))}

    def _compact(self, items):
        """Model indices → compact row indices (items that are no candidate are dropped)."""
        items = np.asarray(sorted(items), dtype=np.int64)
        where = np.searchsorted(self.rows, items)
        inside = (where < len(self.rows)) & (self.rows[np.minimum(where, len(self.rows) - 1)] == items)
        return (where[inside] + 1).tolist()

    def search(self, queries, k, *, exclude=None, boost=None):
        """Top-k candidates: `(indices int64 [Q, k'], scores float32 [Q, k'])` in model indices.

        `boost` (`(indices, values)` in model indices) as for `ExactRetriever.search`; boosted
        items that are no candidate are left out.
        """
        queries = check_queries(queries, self.dim)
        excluded = [self._compact(e) for e in exclusion(exclude, len(queries))]
        if boost is not None:
            indices = np.asarray(boost[0], np.int64)
            where = np.minimum(np.searchsorted(self.rows, indices), len(self.rows) - 1)
            inside = self.rows[where] == indices
            boost = (where[inside] + 1, np.asarray(boost[1], np.float32)[inside])
        indices, scores = self.inner.search(queries, k, exclude=excluded, boost=boost)
        return self.rows[np.asarray(indices, np.int64) - 1], scores
