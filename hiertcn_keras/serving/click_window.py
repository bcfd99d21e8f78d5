"""`ClickWindow`: every user's clicks per item in the last hours, counted live (the served recency prior).

A run trained with the recency prior (`hiertcn_keras.models.recency_prior`) is evaluated with

    score(c | t) = u · v_c + b_c + beta · log1p(clicks of c in [t − hours, t))

where the clicks are every user's events strictly before `t` (event time, not wall clock).
Serving needs the same counts live. `ClickWindow` keeps them from the events the online path
accepts (`OnlineRecommender.observe_batch` feeds every *kept* event, the events a prepared
dataset holds: exact duplicates, collapsed repeats and events past a session's L are not
clicks of the dataset either, so they do not count offline or here).

How it is kept (`n` = events in the window, `C` = the catalogue):

- time is cut into buckets of `hours / buckets` seconds (default 256 per window); an event is
  appended to its bucket (its item as int32, its time as float64: 12 bytes) and added to a dense
  per-item count (int32 `[C + 1]`): O(1) amortised per event, late events included (a bucket is
  found by its key, not by arrival order);
- a bucket is dropped, and its events subtracted from the counts, once it ends more than
  `hours + lookback` before the newest event seen: memory is 12 bytes per event of the last
  `hours + lookback` seconds (+ about `9·C` bytes of counts, scratch and flags), each event added and removed
  once;
- a query at `t` answers exactly for `[t − hours, t)`: the dense counts, less the few events of
  the edge buckets outside the window (those at or after `t`, those before `t − hours`), which
  are filtered by their exact times. It returns the nonzero counts only (the *hot* items, kept
  in a list compacted lazily), so a query costs O(hot items + edge events), never O(C);
- every method takes one lock: concurrent requests add and query safely.

`t = None` asks for "now": the window ends just after the newest event seen (every event
counts). A query earlier than `horizon()` reaches back past what was kept (before the newest
event − hours − lookback); its counts then miss the forgotten events (`counts_at` says so). An
event older than that point is not kept (it could only count for such queries) and is counted
in `too_old`.

Several serving processes (e.g. behind one Redis user store) each count the events they
receive; a process that sees a share of the traffic counts that share (docs/serving.md).
"""

from __future__ import annotations

import math
import threading

import numpy as np


class _Bucket:
    """The events of one time bucket: item and time chunks, merged lazily."""

    __slots__ = ("items", "times")

    def __init__(self):
        self.items, self.times = [], []

    def add(self, items, times):
        self.items.append(items)
        self.times.append(times)

    def arrays(self):
        if len(self.items) > 1:
            self.items = [np.concatenate(self.items)]
            self.times = [np.concatenate(self.times)]
        return self.items[0], self.times[0]

    def __len__(self):
        return sum(len(x) for x in self.items)


class ClickWindow:
    """Live per-item click counts of the last `hours`, exact at any query time (see the module).

    Args:
        n_items: int. Size of the count vector (model indices `0..n_items − 1`; index 0, the
            padding, and indices ≥ n_items are never counted: give `n_catalogue + 1`).
        hours: float > 0. The window.
        buckets: int ≥ 1. Buckets per window (edge cost ~ 1/buckets of the window's events).
            Defaults to 256.
        lookback_seconds: float ≥ 0 or `None`. How far before `newest − hours` events are kept,
            so queries a little in the past (`at`, late events) stay exact. `None` = an eighth of
            the window.

    Example:

    >>> window = ClickWindow(n_items=6, hours=1.0)
    >>> window.add([1, 2, 2], [0.0, 10.0, 4000.0])
    3
    >>> window.counts_at(3600.0)             # [0, 3600): item 1 once, item 2 once
    (array([1, 2]), array([1, 1]), True)
    >>> window.counts_at(None)[:2]           # "now" (newest 4000): [400, 4000]
    (array([2]), array([1]))
    """

    def __init__(self, n_items, hours, *, buckets=256, lookback_seconds=None):
        hours = float(hours)
        if not (math.isfinite(hours) and hours > 0):
            raise ValueError(f"hours must be a finite number > 0, got {hours!r}")
        if int(buckets) < 1:
            raise ValueError(f"buckets must be ≥ 1, got {buckets!r}")
        self.n_items = int(n_items)
        self.hours = hours
        self.seconds = hours * 3600.0
        self.width = self.seconds / int(buckets)
        lookback = self.seconds / 8 if lookback_seconds is None else float(lookback_seconds)
        if not (math.isfinite(lookback) and lookback >= 0):
            raise ValueError(f"lookback_seconds must be a finite number ≥ 0, got {lookback_seconds!r}")
        self.lookback = lookback
        self._counts = np.zeros(self.n_items, np.int32)
        self._scratch = np.zeros(self.n_items, np.int32)
        self._hot = np.zeros(0, np.int64)  # every item with a nonzero count, and some with zero
        self._in_hot = np.zeros(self.n_items, bool)
        self._buckets = {}  # bucket key → _Bucket
        self._oldest_key = None
        self._newest = -math.inf
        self._events = 0
        self.too_old = 0
        self._lock = threading.Lock()

    # -- events ----------------------------------------------------------------------------

    def add(self, items, timestamps):
        """Count events (every user's), in any order.

        Args:
            items: int array-like `[n]`: model indices (outside `1..n_items − 1`: ignored).
            timestamps: float array-like `[n]`: event times (seconds).

        Returns:
            int. The events counted (the others were outside the counted items, or older than
            what is kept: `too_old`).
        """
        items = np.asarray(items, np.int64).reshape(-1)
        times = np.asarray(timestamps, np.float64).reshape(-1)
        if len(items) != len(times):
            raise ValueError(f"items and timestamps differ in length: {len(items)} and {len(times)}")
        if not np.isfinite(times).all():
            raise ValueError("timestamps must be finite")
        inside = (items >= 1) & (items < self.n_items)
        items, times = items[inside].astype(np.int32), times[inside]
        if not len(items):
            return 0
        with self._lock:
            newest = max(self._newest, float(times.max()))
            keep = times >= self._keep_from(newest)
            self.too_old += int((~keep).sum())
            items, times = items[keep], times[keep]
            if not len(items):
                return 0
            keys = np.floor(times / self.width).astype(np.int64)
            if len(items) == 1 or (keys == keys[0]).all():
                self._bucket(int(keys[0])).add(items, times)
            else:
                for key in np.unique(keys):
                    sel = keys == key
                    self._bucket(int(key)).add(items[sel], times[sel])
            if len(items) * 8 > self.n_items:  # a large batch (a warm start): one dense pass
                self._counts += np.bincount(items, minlength=self.n_items).astype(np.int32)
            else:
                np.add.at(self._counts, items, 1)
            fresh = np.unique(items[~self._in_hot[items]])
            if len(fresh):
                self._in_hot[fresh] = True
                self._hot = np.concatenate([self._hot, fresh.astype(np.int64)])
            self._events += len(items)
            self._newest = newest
            self._evict()
            return int(len(items))

    def _bucket(self, key):
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
            if self._oldest_key is None or key < self._oldest_key:
                self._oldest_key = key
        return bucket

    def _keep_from(self, newest):
        """Events before this time are never needed again (see `horizon`)."""
        return newest - self.seconds - self.lookback

    def _evict(self):
        """Drop the buckets that end before what is kept, subtracting their events."""
        cutoff = self._keep_from(self._newest)
        while self._oldest_key is not None and (self._oldest_key + 1) * self.width <= cutoff:
            bucket = self._buckets.pop(self._oldest_key, None)
            if bucket is not None:
                items, _ = bucket.arrays()
                np.subtract.at(self._counts, items, 1)
                self._events -= len(items)
            self._oldest_key = min(self._buckets) if self._buckets else None

    # -- queries ---------------------------------------------------------------------------

    @property
    def newest(self):
        """The newest event time seen (`-inf` before the first event)."""
        return self._newest

    def horizon(self):
        """The earliest query time answered exactly: the newest event − lookback (−inf if none)."""
        with self._lock:
            return self._newest - self.lookback if self._buckets else -math.inf

    def __len__(self):
        """Events kept (those of the last `hours + lookback` seconds, and of the bucket edges)."""
        return self._events

    def _edge_events(self, t, inclusive):
        """Kept events outside `[t − seconds, t)` (or `[…, t]` when `inclusive`): item arrays."""
        low, out = t - self.seconds, []
        low_key, high_key = math.floor(low / self.width), math.floor(t / self.width)
        for key, bucket in self._buckets.items():
            if low_key < key < high_key:
                continue  # wholly inside the window
            items, times = bucket.arrays()
            if key < low_key or (key > high_key and not inclusive):
                out.append(items)  # wholly outside
                continue
            outside = times < low
            outside |= (times > t) if inclusive else (times >= t)
            if outside.any():
                out.append(items[outside])
        return out

    def counts_at(self, t=None):
        """Clicks per item in `[t − hours, t)`, nonzero ones only.

        Args:
            t: float or `None`. The query time (Unix seconds); `None` = now: `[newest − hours,
                newest]`, every event seen counts.

        Returns:
            `(indices int64 [M] ascending, counts int64 [M], exact)`: `exact` is False when `t`
            is before `horizon()` (forgotten events would have counted).
        """
        with self._lock:
            if not self._buckets:
                return np.zeros(0, np.int64), np.zeros(0, np.int64), True
            inclusive = t is None
            t = self._newest if t is None else float(t)
            exact = t >= self._newest - self.lookback
            hot = self._hot
            counts = self._counts[hot].astype(np.int64)
            edges = self._edge_events(t, inclusive)
            if edges:
                outside = np.concatenate(edges) if len(edges) > 1 else edges[0]
                np.add.at(self._scratch, outside, 1)
                counts -= self._scratch[hot]
                self._scratch[outside] = 0
            live = self._counts[hot] > 0
            if live.sum() * 2 < len(hot):  # compact the hot list (items whose clicks all left)
                self._in_hot[hot[~live]] = False
                self._hot = hot = hot[live]
                counts = counts[live]
            nonzero = counts > 0
            indices, counts = hot[nonzero], counts[nonzero]
            order = np.argsort(indices, kind="stable")
            return indices[order], counts[order], bool(exact)

    def dense_counts(self, t=None):
        """`counts_at(t)` as a dense int64 vector `[n_items]` (tests, small catalogues)."""
        indices, counts, _ = self.counts_at(t)
        out = np.zeros(self.n_items, np.int64)
        out[indices] = counts
        return out

    def offsets(self, beta, t=None):
        """The prior's sparse score offsets `beta · log1p(count)`, computed as the evaluation does.

        Returns:
            `(indices int64 [M], float32 values [M], exact)` (see `counts_at`).
        """
        indices, counts, exact = self.counts_at(t)
        return indices, beta * np.log1p(counts.astype(np.float32)), exact

    def report(self):
        """A summary for logs and `/healthz`."""
        with self._lock:
            return {"hours": self.hours, "events_kept": int(self._events), "buckets": len(self._buckets),
                    "newest": None if not math.isfinite(self._newest) else self._newest,
                    "too_old": int(self.too_old), "bucket_seconds": self.width, "lookback_seconds": self.lookback}


def warm_from_dataset(window, catalog, data_dir):
    """Count a prepared dataset's last `hours + lookback` of events into `window` (a warm start).

    Every event of the dataset counts (every split, every user: the events `prepare` kept),
    its item matched to the served catalogue by id, so the dataset may be newer data prepared
    apart from the run's. Events of items the catalogue does not rank are skipped and counted.

    Args:
        window: `ClickWindow`.
        catalog: `item_catalog.ItemCatalog` of the served run.
        data_dir: str or Path. A folder written by `hiertcn prepare`.

    Returns:
        dict: `path`, `events` (counted), `skipped_items` (events of items outside the
        catalogue), `from` and `to` (the times counted).
    """
    from hiertcn_keras.data.dataset import PreparedDataset

    dataset = PreparedDataset(data_dir)
    times = np.asarray(dataset.events["timestamp"], np.float64)
    report = {"path": str(data_dir), "events": 0, "skipped_items": 0, "from": None, "to": None}
    if not len(times):
        return report
    newest = max(float(times.max()), window.newest)
    recent = np.flatnonzero(times >= newest - window.seconds - window.lookback)
    ids = dataset.items["id"].astype(str).to_numpy(dtype=object)
    local = np.asarray(dataset.events["item"], np.int64)[recent]
    served = catalog.index_of(ids, missing="ignore")  # dataset index − 1 → served model index (or −1)
    items = served[local - 1]
    rankable = (items >= 1) & (items <= catalog.n_catalogue)
    report["skipped_items"] = int((~rankable).sum())
    report["events"] = window.add(items[rankable], times[recent][rankable])
    report["from"], report["to"] = float(times[recent].min()), newest
    return report
