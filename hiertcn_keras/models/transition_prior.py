"""The causal transition-count prior: how often each candidate directly followed the current item.

On logs with a strong within-session order, "what follows item i" is a sparse map that counts
learn from a few thousand events better than a network does (the successor-count and
sequential-rules baselines). The prior adds those counts to the model's scores:

    score(c | event at t) = u · v_c + b_c [+ recency term] + gamma · log1p(n_t(i → c))

where `i` is the current item (the previous event of the scored event's session) and
`n_t(i → c)` counts the pairs "`c` directly followed `i` within one session" that happened
strictly before `t` (a pair happens at the time of its second event): every user's pairs of
the training split and of the scored view, exactly the pool of the recency prior
(`recency_prior`), so nothing at or after the scored event (its own pair included) counts and
nothing leaks across the split. The first event of a session has no current item: its term
is 0 for every candidate. `gamma = 0` is the plain model; `gamma` is chosen on the validation
split after training (`training/recency_choice.py`), jointly with the recency prior, from
`GAMMAS` (0 included).

The training events and the view's events overlap under the temporal protocol (a test view
repeats its users' earlier events): a pair is identified by (user, both items, both times)
and counted as often as in the source that holds it most often, so it is counted once.

How it is counted (`P` = pairs in the pool): the pairs are sorted by (i, c, time) once per
view; the count of `(i, c)` before `t` is a binary search in that order. A scored event costs
O(distinct successors of its current item · log P): memory is O(P) plus the dense
`[N, C + 1]` block the caller asks for, never `[I, C]`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hiertcn_keras.models.baseline_base import session_starts

# The weights searched on validation; 0 keeps the plain model.
GAMMAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def current_items(view, events):
    """The current item of each event: the previous event's item in the same session, else 0.

    Args:
        view: `EventView` (sorted by user and time).
        events: int array `[N]` of view indices.

    Returns:
        int64 `[N]`: item indices, 0 where the event starts a session (or a user).
    """
    events = np.asarray(events, dtype=np.int64)
    starts = session_starts(np.asarray(view.user), np.asarray(view.session))
    item = np.asarray(view.item, dtype=np.int64)
    out = np.zeros(len(events), dtype=np.int64)
    inside = ~starts[events]
    out[inside] = item[events[inside] - 1]
    return out


def view_pairs(view, source):
    """Every within-session pair of consecutive events of a view, as a frame.

    Returns:
        `pandas.DataFrame` with columns `user`, `a`, `b` (the items), `ta`, `tb` (their
        times) and `source`.
    """
    user, item = np.asarray(view.user, dtype=np.int64), np.asarray(view.item, dtype=np.int64)
    time = np.asarray(view.timestamp, dtype=np.float64)
    second = np.flatnonzero(~session_starts(user, np.asarray(view.session)))
    return pd.DataFrame({"user": user[second], "a": item[second - 1], "b": item[second],
                         "ta": time[second - 1], "tb": time[second], "source": source})


def merged_pairs(train_view, view):
    """The pairs of two views, each (user, a, b, ta, tb) as often as in the view with most.

    Returns:
        `(a, b, tb)`: int64, int64 and float64 arrays.
    """
    frames = [view_pairs(train_view, 0)] + ([view_pairs(view, 1)] if view is not None else [])
    both = pd.concat(frames, ignore_index=True)
    keys = ["user", "a", "b", "ta", "tb"]
    counts = both.groupby([*keys, "source"], sort=False).size().rename("n").reset_index()
    most = counts.groupby(keys, sort=False)["n"].max().reset_index()
    repeat = most["n"].to_numpy()
    return tuple(np.repeat(most[k].to_numpy(), repeat) for k in ("a", "b", "tb"))


class _PairIndex:
    """The pool's pairs sorted by (a, b, time), searchable by (a, time)."""

    def __init__(self, a, b, tb, n_catalogue):
        keep = (b >= 1) & (b <= n_catalogue) & (a >= 1)
        a, b, tb = a[keep], b[keep], tb[keep]
        self.times = np.unique(tb)  # distinct pair times: a pair counts before t iff rank(tb) < rank(t)
        self.stride = np.int64(len(self.times) + 1)
        order = np.lexsort((tb, b, a))
        a, b, tb = a[order], b[order], tb[order]
        group_start = np.ones(len(a), dtype=bool)
        group_start[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        group = np.cumsum(group_start) - 1
        self.group_first = np.flatnonzero(group_start)  # first pair of each (a, b) group
        self.group_b = b[self.group_first]
        group_a = a[self.group_first]
        rows = int(a.max()) + 2 if len(a) else 2
        self.a_ptr = np.searchsorted(group_a, np.arange(rows))  # groups of a: a_ptr[a] .. a_ptr[a + 1]
        self.keys = group * self.stride + np.searchsorted(self.times, tb)

    def counts(self, current, t, out):
        """Adds `n_t(current → c)` to `out[k, c]` for every event k (see the module)."""
        current = np.where(current < len(self.a_ptr) - 1, current, 0)
        lo, hi = self.a_ptr[current], self.a_ptr[current + 1]
        width = hi - lo
        if not width.sum():
            return out
        rows = np.repeat(np.arange(len(current)), width)
        groups = np.repeat(lo - np.cumsum(width) + width, width) + np.arange(width.sum())
        rank = np.searchsorted(self.times, t, side="left")[rows]
        n = np.searchsorted(self.keys, groups * self.stride + rank, side="left") - self.group_first[groups]
        out[rows, self.group_b[groups]] = n
        return out


class TransitionPrior:
    """`gamma · log1p(n(current item → candidate))` of every candidate, per scored event (see the module).

    Args:
        gamma: float ≥ 0. Weight of the prior. Defaults to 1.

    Example:

    >>> prior = TransitionPrior(gamma=2.0).fit(dataset)        # doctest: +SKIP
    >>> offsets = prior.offsets(dataset.view("test"), events)   # [N, n_catalogue + 1]
    """

    def __init__(self, gamma=1.0):
        if not (np.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"gamma must be a finite number ≥ 0, got {gamma!r}")
        self.gamma = float(gamma)
        self.n_catalogue = None
        self._train = None
        self._cache = (None, None)

    def fit(self, dataset, n_items=None, n_catalogue=None):
        """Remembers the training events of a dataset (the pool before every view).

        Args:
            dataset: `PreparedDataset`, or a held-out log (`data.heldout`, test split only:
                then only the log's own earlier pairs count).
            n_items: ignored (accepted for symmetry with `RecencyPrior.fit`).
            n_catalogue: int or `None`. The model's catalogue; default the dataset's.

        Returns:
            `self`.
        """
        from hiertcn_keras.data.dataset import EventView

        try:
            train = dataset.view("train")
        except ValueError:  # a held-out log has no training split
            train = EventView.from_arrays([], [], [], timestamp=np.zeros(0), split="train")
        return self.fit_view(train, dataset.n_catalogue if n_catalogue is None else n_catalogue)

    def fit_view(self, train_view, n_catalogue):
        """Remembers a training view's events (the pool before every scored view).

        Args:
            train_view: `EventView`. The training events, sorted by (user, time).
            n_catalogue: int. Successors counted are items `1..n_catalogue`.

        Returns:
            `self`.
        """
        self.n_catalogue = int(n_catalogue)
        self._train = train_view
        self._cache = (None, None)
        return self

    def _index(self, view):
        cached_view, index = self._cache
        if cached_view is not view:
            index = _PairIndex(*merged_pairs(self._train, view), self.n_catalogue)
            self._cache = (view, index)
        return index

    def counts(self, view, events):
        """`n_t(i → c)` per candidate: float32 `[N, n_catalogue + 1]` (exact integers), column 0 = 0.

        Args:
            view: `EventView`. The scored view (its earlier pairs count, every user's).
            events: int array `[N]` of view indices.
        """
        if self.n_catalogue is None:
            raise ValueError("fit the TransitionPrior before asking for counts")
        events = np.asarray(events, dtype=np.int64)
        out = np.zeros((len(events), self.n_catalogue + 1), dtype=np.float32)
        if not len(events):
            return out
        t = np.asarray(view.timestamp, dtype=np.float64)[events]
        return self._index(view).counts(current_items(view, events), t, out)

    def log_counts(self, view, events):
        """`log1p(n_t(i → c))` per candidate: float32 `[N, n_catalogue + 1]`, column 0 = 0."""
        return np.log1p(self.counts(view, events))

    def offsets(self, view, events):
        """`gamma · log1p(n_t(i → c))`: float32 `[N, n_catalogue + 1]`, column 0 = 0."""
        return self.gamma * self.log_counts(view, events)


def transition_enabled(config):
    """Whether a `ModelConfig` applies the transition prior: on, with a chosen weight > 0."""
    return bool(getattr(config, "transition_prior", False) and getattr(config, "transition_gamma", None))


def transition_prior_of(config, dataset):
    """The fitted `TransitionPrior` a `ModelConfig` asks for, or `None` (off, or gamma 0 or unchosen)."""
    if not transition_enabled(config):
        return None
    return TransitionPrior(config.transition_gamma).fit(dataset, config.n_items, config.n_catalogue)
