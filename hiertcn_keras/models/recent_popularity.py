"""Popularity of the last N hours, computed causally at every scored event.

News catalogues move fast: what was clicked in the last hour predicts the next click far better
than all-time popularity. `RecentPopularity` scores an event at time `t` by how many clicks
each item received in `[t - hours, t)`, from the *log as a live system would have it at t*:
the fitted training events plus the scored view's events, every user's, strictly before `t`
(an event at `t` itself, the target included, never counts). Unlike the other baselines this
one uses other users' earlier events of the scored view: a news site knows what everyone
clicked a minute ago.

The training events and the view's events overlap (a temporal-protocol test view repeats its
users' training events); the pool counts every (user, item, timestamp) event as often as the
view that holds it most often, so an event in both is counted once.

Ties between items with the same window count are broken by training popularity: the score is
`count + pop(c) / (max pop + 1)` (counts are integers, so the order by count is untouched).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hiertcn_keras.models.baseline_base import SimpleBaseline


def _frame(view, source):
    return pd.DataFrame({"user": np.asarray(view.user, dtype=np.int64), "item": np.asarray(view.item, dtype=np.int64),
                         "timestamp": np.asarray(view.timestamp, dtype=np.float64), "source": source})


def merged_events(train_view, view):
    """The events of two views, each (user, item, timestamp) as often as in the view with most.

    Returns:
        `(item, timestamp)`: int64 and float64 arrays sorted by time.
    """
    frames = [_frame(train_view, 0)]
    if view is not None:
        frames.append(_frame(view, 1))
    both = pd.concat(frames, ignore_index=True)
    counts = both.groupby(["user", "item", "timestamp", "source"], sort=False).size().rename("n").reset_index()
    most = counts.groupby(["user", "item", "timestamp"], sort=False)["n"].max().reset_index()
    item = np.repeat(most["item"].to_numpy(), most["n"].to_numpy())
    timestamp = np.repeat(most["timestamp"].to_numpy(), most["n"].to_numpy())
    order = np.argsort(timestamp, kind="stable")
    return item[order], timestamp[order]


def _counts(items, n_cols):
    return np.bincount(items, minlength=n_cols)


class RecentPopularity(SimpleBaseline):
    """Clicks per item in the `hours` before the scored event (see the module docstring).

    Worked example: training clicks on item 1 at hours 0 and 1, item 2 at hour 1.5; an event at
    hour 2 with `hours=1` counts [1, 2): item 1 → 1, item 2 → 1; ties broken by training
    popularity (2 and 1 clicks of max 2): scores 1 + 2/3 and 1 + 1/3.

    Args:
        hours: float > 0. Length of the window. Defaults to 1.
        chunk_size: int. Events per step. Defaults to 2048.
    """

    name = "recentpop"
    PARAMS = {"hours": [0.25, 1.0, 3.0, 12.0, 24.0, 168.0]}

    def __init__(self, hours=1.0, chunk_size=2048):
        super().__init__(chunk_size)
        if not hours > 0:
            raise ValueError(f"hours must be > 0, got {hours!r}")
        self.hours = float(hours)
        self._pool_cache = (None, None)

    def _fit(self, train_view, item_vectors):
        self._train_view = train_view
        counts = np.bincount(np.asarray(train_view.item, dtype=np.int64), minlength=self.n_items)
        counts = counts[1 : self.n_catalogue + 1].astype(np.float64)
        self._tiebreak = (counts / (counts.max(initial=0.0) + 1.0)).astype(np.float64)
        self._pool_cache = (None, None)

    def _pool(self, view):
        cached_view, pool = self._pool_cache
        if cached_view is not view:
            pool = merged_events(self._train_view, view)
            self._pool_cache = (view, pool)
        return pool

    def window_counts(self, view, events):
        """Clicks of every catalogue item in `[t - hours, t)` before each event (see the class).

        Args:
            view: `EventView`. The scored view (its earlier events count, every user's).
            events: int array `[N]` of view indices.

        Returns:
            float32 `[N, n_catalogue]` (exact integers): column c - 1 counts item c (the padding
            column is left out).
        """
        item, timestamp = self._pool(view)
        t = np.asarray(view.timestamp, dtype=np.float64)[np.asarray(events, dtype=np.int64)]
        out = np.empty((len(t), self.n_catalogue), dtype=np.float32)
        if not len(t):
            return out
        order = np.argsort(t, kind="stable")
        hi = np.searchsorted(timestamp, t[order], side="left")  # strictly before t: the event itself never counts
        lo = np.searchsorted(timestamp, t[order] - self.hours * 3600.0, side="left")
        n_cols = self.n_catalogue + 1
        in_catalogue = np.where(item <= self.n_catalogue, item, 0)
        counts = np.bincount(in_catalogue[lo[0] : hi[0]], minlength=n_cols).astype(np.float64)
        prev_lo, prev_hi = lo[0], hi[0]
        for k, row in enumerate(order):
            # Both window ends only move forward in time order: add what entered, drop what left.
            if hi[k] > prev_hi:
                counts += _counts(in_catalogue[prev_hi : hi[k]], n_cols)
            if lo[k] > prev_lo:
                counts -= _counts(in_catalogue[prev_lo : lo[k]], n_cols)
            prev_lo, prev_hi = lo[k], hi[k]
            out[row] = counts[1:]
        return out

    def _score_chunk(self, view, events):
        out = self.window_counts(view, events)
        out += self._tiebreak  # float32 like the counts (the order by count is untouched)
        return out
