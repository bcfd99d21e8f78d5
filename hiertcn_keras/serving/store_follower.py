"""Serving follows the day: pick up a directory's newest item store without a restart.

`hiertcn embed-items --until T --stores DIR` writes one store per period and points
`DIR/LATEST` at the newest. A server started on `DIR` (`serve --items DIR`) follows it:

- `StoreFollower.poll()` stats `DIR/LATEST` (one `stat` call; cheap enough for every few
  seconds) and reloads when the pointer changed; `start()` runs it in a background thread every
  `poll_seconds`;
- `StoreFollower.reload()` (the `POST /admin/reload` route) reloads now.

A reload builds the whole new `OnlineRecommender` off the request path — a model copy with
the store's vectors as its input table, the catalogue, the retriever (and its faiss index),
the compiled user step — and only then swaps it in with `RecommenderRef.swap`: a request
reads the reference once, so requests in flight finish on the old store and every response is
computed in one store's vectors. The old recommender is released when its last request has
ended, and its model copy and compiled steps serve the store after next (two copies in all,
so a swap does not recompile). The user store is shared: states stay valid because the user
model did not change. A failed reload (a damaged store, non-finite values, another dimension, a store of
other data) changes nothing: the old store keeps serving, the error is logged and returned.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from hiertcn_keras.artifacts.store_directory import LATEST_FILE, StoreDirectory

log = logging.getLogger("hiertcn.server")


class ReloadError(Exception):
    """A reload that failed; the old store is still served.

    Attributes:
        status: int. The HTTP status to answer with (422: the store is unusable; 500: other).
        store: str or `None`. The store (or pointer) file at fault.
    """

    def __init__(self, message, *, status=422, store=None):
        super().__init__(message)
        self.status = status
        self.store = store


def is_store_directory(path):
    """Whether `path` is a directory of dated stores (a `LATEST` file or dated store folders),
    rather than one store (which has its own `manifest.json`)."""
    from hiertcn_keras.artifacts.store_format import MANIFEST_FILE

    path = Path(path)
    if not path.is_dir() or (path / MANIFEST_FILE).is_file():
        return False
    return (path / LATEST_FILE).is_file() or bool(StoreDirectory(path).stores())


class DatedRecommenderFactory:
    """Builds an `OnlineRecommender` for one dated store of a pretrained-space run.

    Every recommender has its own copy of the model (the store's vectors are its input table),
    so the one being replaced keeps its vectors until its last request ends; all share the
    user store. Loading a model and compiling its online steps costs seconds, so a replaced
    recommender, once idle (`release`, the swap's `on_idle`), gives its model and compiled
    steps back for the next store: serving alternates between two copies (a fresh copy is
    loaded only when none is idle).

    Args:
        run_dir: str or Path.
        store: an open `UserStore` for the run's fingerprint (shared by every build).
        data_dir, session_gap: as for `ServingRun.open`.
        retrieval: str. `exact`, `ivf` or `hnsw`. Defaults to `exact`.
        retrieval_options: dict or `None`.
        **kwargs: passed to the `OnlineRecommender` constructor (`unknown_items`, ...).
    """

    def __init__(self, run_dir, store, *, data_dir=None, session_gap=None, retrieval="exact",
                 retrieval_options=None, **kwargs):
        self.run_dir = Path(run_dir)
        self.store = store
        self.data_dir = data_dir
        self.session_gap = session_gap
        self.retrieval = retrieval
        self.retrieval_options = dict(retrieval_options or {})
        self.kwargs = kwargs
        self.probe = None
        #: Compile every batch shape of a new recommender before it is returned (`serve --warm`).
        self.warm = False
        self._idle = []  # (run, (OnlineModel, step)) of released recommenders
        self._idle_lock = threading.Lock()

    @classmethod
    def open(cls, run_dir, store, **kwargs):
        """A factory whose user store is opened here: `store` is a URL (`sqlite:PATH`, ...)."""
        from hiertcn_keras.serving.user_store_url import open_user_store

        factory = cls(run_dir, None, **kwargs)
        factory.probe = factory.open_run()
        factory.store = open_user_store(store, factory.probe.fingerprint) if isinstance(store, str) else store
        return factory

    def open_run(self):
        """The run loaded afresh (its own model weights)."""
        from hiertcn_keras.serving.serving_run import ServingRun

        return ServingRun.open(self.run_dir, data_dir=self.data_dir, session_gap=self.session_gap)

    def __call__(self, store_path):
        """The recommender serving `store_path` (a dated store folder).

        The store is checked first, against a run opened once for that (`probe`), so a bad
        store is refused without loading a model; then the run is loaded again for this store.
        """
        from hiertcn_keras.serving.dated_catalog import CandidateRetriever, dated_catalog, dated_vectors
        from hiertcn_keras.serving.online_recommender import OnlineRecommender, recall_queries_for

        if self.probe is None:
            self.probe = self.open_run()
        checked = dated_vectors(self.probe, Path(store_path))  # raises on a bad store, before loading a model
        with self._idle_lock:
            reused = self._idle.pop() if self._idle else None
        if reused is not None:
            run, step = reused
            kwargs = {**self.kwargs, "step": step}
        else:
            run, kwargs = self.open_run(), self.kwargs
            if run.fingerprint != self.probe.fingerprint:  # the run folder changed on disk: check against it
                self.probe, checked = run, None
        catalog, candidates, info = dated_catalog(run, Path(store_path), checked)
        run.recommender.user_model.get_layer("item_embedding").table.assign(catalog.table)
        retriever = CandidateRetriever(catalog.table, candidates, "exact")
        recommender = OnlineRecommender(run, catalog, self.store, retrieval=retriever, **kwargs)
        # One click window for the recency prior and one transition counter, kept across stores
        # (the clicks did not change).
        self.kwargs.setdefault("recency", recommender.clicks)
        self.kwargs.setdefault("transitions", recommender.transitions)
        if self.retrieval != "exact":
            options = dict(self.retrieval_options)
            options.setdefault("recall_queries", recommender.sample_queries(recall_queries_for(options)))
            recommender.retriever = CandidateRetriever(catalog.table, candidates, self.retrieval, **options)
        recommender.items_info = info
        recommender.candidates = candidates
        recommender.released = False
        if self.warm:
            recommender.warm()
        return recommender

    def release(self, recommender):
        """Take back a recommender no request holds any more (the swap's `on_idle`).

        Its model and compiled steps serve the next store; it must not be used again.
        """
        recommender.released = True
        recommender.retriever = None
        with self._idle_lock:
            if len(self._idle) < 1:  # keep one spare copy: two in all
                self._idle.append((recommender.run, (recommender.model, recommender.step)))
        log.info("released the item store %s after its last request",
                 getattr(getattr(recommender, "items_info", None), "name", "?"))


class StoreFollower:
    """Keeps a `RecommenderRef` on the store a directory's `LATEST` names.

    Args:
        ref: `http_server.RecommenderRef` (its current recommender serves `current` below).
        factory: callable `store path → OnlineRecommender` (e.g. `DatedRecommenderFactory`).
        root: str or Path. The store directory.
        current: Path or `None`. The store the current recommender serves.
        poll_seconds: float. Seconds between two polls of `start()`; 0 = no polling thread
            (reloads only through `reload()`). Defaults to 60.

    Example:

    >>> follower = StoreFollower(app.state.recommender, factory, "stores", current=path)  # doctest: +SKIP
    >>> follower.reload()["store"]
    '2017-10-16T07'
    """

    def __init__(self, ref, factory, root, *, current=None, poll_seconds=60.0):
        self.ref = ref
        self.factory = factory
        self.directory = StoreDirectory(root)
        self.current = None if current is None else Path(current)
        self.poll_seconds = float(poll_seconds)
        self.reloads = 0
        self.failures = 0
        self.last_error = None
        self._lock = threading.Lock()  # one reload at a time
        self._pointer = self._signature()
        self._stop = threading.Event()
        self._thread = None

    def _signature(self):
        try:
            st = os.stat(self.directory.root / LATEST_FILE)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def reload(self):
        """Swap in the store `LATEST` names now (nothing happens when it is already served).

        Returns:
            dict: `status` (`reloaded` or `unchanged`), the served store's `as_dict()` fields,
            `seconds` (building the new store's recommender), and `previous` (the store name
            replaced, after a reload).

        Raises:
            ReloadError: the old store is still served; the message names the file at fault.
        """
        with self._lock:
            pointer = self._signature()
            try:
                _, path = self.directory.latest()
            except (LookupError, ValueError, OSError) as error:
                raise self._failed(str(error), self.directory.root / LATEST_FILE, 422) from None
            if self.current is not None and path.resolve() == self.current.resolve():
                self._pointer = pointer
                return {"status": "unchanged", **self._served()}
            started = time.perf_counter()
            try:
                recommender = self.factory(path)
            except (ValueError, OSError, KeyError) as error:  # DataError is a ValueError
                raise self._failed(str(error), path, 422) from None
            except Exception as error:  # noqa: BLE001 (a bug or a failing disk: keep serving the old store)
                raise self._failed(f"{type(error).__name__}: {error}", path, 500) from None
            seconds = time.perf_counter() - started
            previous = self.current
            self.ref.swap(recommender, on_idle=getattr(self.factory, "release", None))
            self.current = path
            self._pointer = pointer
            self.reloads += 1
            self.last_error = None
            result = {"status": "reloaded", **self._served(), "seconds": round(seconds, 3),
                      "previous": None if previous is None else previous.name}
            log.info("item store reloaded: now serving %s (stamp %s), built in %.2f s; previous %s",
                     path.name, result.get("stamp"), seconds, result["previous"])
            return result

    def _served(self):
        info = getattr(self.ref.current, "items_info", None)
        return info.as_dict() if info is not None else {"store": None}

    def _failed(self, message, path, status):
        self.failures += 1
        self.last_error = {"error": message, "store": str(path)}
        log.error("item store reload failed, still serving %s: %s: %s",
                  None if self.current is None else self.current.name, path, message)
        return ReloadError(message, status=status, store=str(path))

    def poll(self):
        """Reload when `LATEST` changed since the last look; returns the reload's result or `None`.

        A failed reload is logged and not retried until the pointer changes again.
        """
        pointer = self._signature()
        if pointer == self._pointer:
            return None
        try:
            return self.reload()
        except ReloadError:
            self._pointer = pointer  # this pointer failed: wait for the next one
            return None

    def start(self):
        """Poll every `poll_seconds` in a daemon thread (nothing when `poll_seconds` is 0)."""
        if self.poll_seconds <= 0 or self._thread is not None:
            return self

        def loop():
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.poll()
                except Exception:  # noqa: BLE001 (never let the watcher die)
                    log.exception("item store watcher")

        self._thread = threading.Thread(target=loop, daemon=True, name="hiertcn-store-follower")
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def status(self):
        """What `/healthz` reports about following: the directory, polling, counts, last error."""
        return {"directory": str(self.directory.root), "poll_seconds": self.poll_seconds, "reloads": self.reloads,
                "failures": self.failures, "last_error": self.last_error}

