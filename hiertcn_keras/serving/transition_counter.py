"""`TransitionCounter`: how often each item directly followed another in a session, counted live.

A run with the transition prior (`hiertcn_keras.models.transition_prior`) is evaluated with

    score(c | t) = u · v_c + b_c [+ recency term] + gamma · log1p(n_t(i → c))

where `i` is the user's current item (the last kept item of the open session; none when the
next event starts a session) and `n_t` counts every user's within-session pairs "c directly
followed i" strictly before `t`. Serving keeps the same counts: `OnlineRecommender` feeds every
*kept* event that continues a session as the pair (the session's previous kept item → the
event's item), at the event's time, after its batch is written (kept events are those a
prepared dataset holds, so the pairs are the dataset's pairs).

How it is kept (`P` = distinct pairs seen):

- one dict per source item `i` → `{c: count}`: O(1) per event, memory O(P) (a pair seen
  again costs nothing more); a query for `i` reads only `i`'s successors;
- the pairs of the last `lookback_seconds` before the newest event are also kept with their
  times (per source item, so a query scans only its item's recent pairs), so a query at a time `t` a little in the past (`recommend(at=...)`, late events)
  subtracts those at or after `t` and is exact; a query before `newest − lookback` may count
  pairs after `t` (`successors` says it is not exact). `t = None` is "now": every pair counts;
- all-time counts, never forgotten: the prior's weight was chosen on counts of the whole
  training history. A warm start (`warm_from_dataset`) counts a prepared dataset's pairs;
- every method takes one lock: concurrent requests add and query safely.

Several serving processes each count the events they receive (as for the recency prior).
"""

from __future__ import annotations

import collections
import math
import threading

import numpy as np


class TransitionCounter:
    """Live counts `n(i → c)` of within-session successions, exact at any recent query time.

    Args:
        n_items: int. Successors counted are indices `1..n_items − 1` (give `n_catalogue + 1`:
            the ranked items); source items may be any index ≥ 1.
        lookback_seconds: float ≥ 0. How long pairs are kept with their times (see the module).
            Defaults to 3600.

    Example:

    >>> counter = TransitionCounter(n_items=6)
    >>> counter.add([1, 1, 2], [2, 2, 3], [10.0, 20.0, 30.0])
    3
    >>> counter.successors(1, 15.0)   # 1 → 2 once before t = 15
    (array([2]), array([1]), True)
    >>> counter.successors(1)[:2]     # now: twice
    (array([2]), array([2]))
    """

    def __init__(self, n_items, *, lookback_seconds=3600.0):
        lookback = float(lookback_seconds)
        if not (math.isfinite(lookback) and lookback >= 0):
            raise ValueError(f"lookback_seconds must be a finite number ≥ 0, got {lookback_seconds!r}")
        self.n_items = int(n_items)
        self.lookback = lookback
        self._rows = collections.defaultdict(dict)  # i → {c: count}
        self._recent = collections.deque()  # (time, i) of the last `lookback` seconds, in arrival order
        self._recent_of = collections.defaultdict(collections.deque)  # i → (time, c), in arrival order
        self._newest = -math.inf
        self.pairs = 0
        self._lock = threading.Lock()

    def add(self, previous, items, timestamps):
        """Count pairs `previous[k] → items[k]` at `timestamps[k]` (any order).

        Args:
            previous: int array-like `[n]`: the session's previous kept item (≤ 0: none, the
                event starts a session; skipped).
            items: int array-like `[n]`: the event's item (outside `1..n_items − 1`: skipped).
            timestamps: float array-like `[n]`: event times (seconds).

        Returns:
            int. The pairs counted.
        """
        previous = np.asarray(previous, np.int64).reshape(-1)
        items = np.asarray(items, np.int64).reshape(-1)
        times = np.asarray(timestamps, np.float64).reshape(-1)
        if not len(previous) == len(items) == len(times):
            raise ValueError(f"previous, items and timestamps differ in length: {len(previous)}, {len(items)}, "
                             f"{len(times)}")
        if not np.isfinite(times).all():
            raise ValueError("timestamps must be finite")
        keep = (previous >= 1) & (items >= 1) & (items < self.n_items)
        previous, items, times = previous[keep], items[keep], times[keep]
        if not len(items):
            return 0
        with self._lock:
            newest = max(self._newest, float(times.max()))
            recent = times >= newest - self.lookback
            for a, c, t, fresh in zip(previous.tolist(), items.tolist(), times.tolist(), recent.tolist()):
                row = self._rows[a]
                row[c] = row.get(c, 0) + 1
                if fresh:
                    self._recent.append((t, a))
                    self._recent_of[a].append((t, c))
            self._newest = newest
            while self._recent and self._recent[0][0] < newest - self.lookback:
                _, a = self._recent.popleft()
                mine = self._recent_of[a]
                mine.popleft()  # a's earliest arrival is the one just dropped
                if not mine:
                    del self._recent_of[a]
            self.pairs += len(items)
            return int(len(items))

    @property
    def newest(self):
        """The newest pair time seen (`-inf` before the first)."""
        return self._newest

    def successors(self, item, t=None):
        """The counts `n_t(item → c)`, nonzero ones only.

        Args:
            item: int. The current item (≤ 0: none; nothing counts).
            t: float or `None`. Only pairs strictly before `t` count; `None` = every pair seen.

        Returns:
            `(indices int64 [M] ascending, counts int64 [M], exact)`: `exact` is False when `t`
            is before `newest − lookback` (pairs after `t` that were no longer kept with their
            times may be counted).
        """
        item = int(item)
        with self._lock:
            row = self._rows.get(item) if item >= 1 else None
            if not row:
                return np.zeros(0, np.int64), np.zeros(0, np.int64), True
            counts = dict(row)
            exact = True
            if t is not None:
                t = float(t)
                exact = t >= self._newest - self.lookback or not math.isfinite(self._newest)
                for when, c in self._recent_of.get(item, ()):
                    if when >= t:
                        counts[c] -= 1
        indices = np.fromiter(counts.keys(), np.int64, len(counts))
        values = np.fromiter(counts.values(), np.int64, len(counts))
        order = np.argsort(indices)
        indices, values = indices[order], values[order]
        nonzero = values > 0
        return indices[nonzero], values[nonzero], bool(exact)

    def offsets(self, gamma, item, t=None):
        """The prior's sparse score offsets `gamma · log1p(count)`, computed as the evaluation does.

        Returns:
            `(indices int64 [M], float32 values [M], exact)` (see `successors`).
        """
        indices, counts, exact = self.successors(item, t)
        return indices, gamma * np.log1p(counts.astype(np.float32)), exact

    def report(self):
        """A summary for logs and `/healthz`."""
        with self._lock:
            return {"pairs": int(self.pairs), "items_with_successors": len(self._rows),
                    "distinct_pairs": int(sum(len(r) for r in self._rows.values())),
                    "newest": None if not math.isfinite(self._newest) else self._newest,
                    "lookback_seconds": self.lookback}


def merge_boosts(*boosts):
    """Sum sparse score offsets `(indices, values)` (`None`s skipped): one `(indices, values)` or `None`.

    Values of an index in several boosts are added in the order given (recency first, then
    transitions: the evaluation's order).
    """
    boosts = [b for b in boosts if b is not None]
    if not boosts:
        return None
    if len(boosts) == 1:
        return boosts[0]
    indices = np.unique(np.concatenate([np.asarray(i, np.int64) for i, _ in boosts]))
    values = np.zeros(len(indices), np.float32)
    for i, v in boosts:
        values[np.searchsorted(indices, np.asarray(i, np.int64))] += np.asarray(v, np.float32)
    return indices, values


def warm_from_dataset(counter, catalog, data_dir):
    """Count every within-session pair of a prepared dataset into `counter` (a warm start).

    Every pair of every split counts (the pairs of the events `prepare` kept), the items matched
    to the served catalogue by id, so the dataset may be newer data prepared apart from the
    run's. Pairs whose second item the catalogue does not rank are skipped and counted.

    Args:
        counter: `TransitionCounter`.
        catalog: `item_catalog.ItemCatalog` of the served run.
        data_dir: str or Path. A folder written by `hiertcn prepare`.

    Returns:
        dict: `path`, `pairs` (counted), `skipped_items` (pairs of items outside the
        catalogue), `from` and `to` (the times counted).
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.baseline_base import session_starts

    dataset = PreparedDataset(data_dir)
    ev = dataset.events
    report = {"path": str(data_dir), "pairs": 0, "skipped_items": 0, "from": None, "to": None}
    # The events are stored sorted by (user, time), as every view reads them.
    second = np.flatnonzero(~session_starts(np.asarray(ev["user"]), np.asarray(ev["session"])))
    first = second - 1
    if not len(second):
        return report
    ids = dataset.items["id"].astype(str).to_numpy(dtype=object)
    served = catalog.index_of(ids, missing="ignore")  # dataset index − 1 → served model index (or −1)
    local = np.asarray(ev["item"], np.int64)
    a, c = served[local[first] - 1], served[local[second] - 1]
    times = np.asarray(ev["timestamp"], np.float64)[second]
    rankable = (c >= 1) & (c <= catalog.n_catalogue) & (a >= 1)
    report["skipped_items"] = int((~rankable).sum())
    report["pairs"] = counter.add(a[rankable], c[rankable], times[rankable])
    report["from"], report["to"] = float(times.min()), float(times.max())
    return report
