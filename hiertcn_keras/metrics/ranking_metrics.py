"""Recall@K, MRR, MRP and NDCG@K from full-catalogue ranks, accumulated chunk by chunk.

Per event, with the 1-based rank r of the target among the N candidates:

| metric      | per event                     | note                                        |
|-------------|-------------------------------|---------------------------------------------|
| `recall@K`  | [r ≤ K]                       | `≤` at the cut-off: rank exactly K is a hit |
| `mrr`       | 1 / r                         | no cut-off (the official code's MRR)        |
| `mrp`       | (r − 1) / N                   | 0 is best, lower is better (official rank/N |
|             |                               | with its 0-based rank)                      |
| `ndcg@K`    | [r ≤ K] / log2(r + 1)         | one relevant item, so IDCG = 1              |

Averaging is per event (micro, the default) or per user (each user's mean first, then the mean
over users: the paper's). Worked example, N = 100, user a has ranks (1, 3), user b has (10,):
recall@5 per event = (1 + 1 + 0) / 3 = 0.667, per user = (1 + 0) / 2 = 0.5.

Ranks may be floats (the `average` tie policy). Nothing here is a Keras metric: evaluation runs
on NumPy arrays outside the graph, and accumulators over chunks of events `merge`.
"""

from __future__ import annotations

import numpy as np

AVERAGINGS = ("event", "user")


def _check_ks(name, ks):
    ks = tuple(int(k) for k in ks)
    if any(k < 1 for k in ks):
        raise ValueError(f"{name} must all be ≥ 1, got {ks}")
    return ks


class RankingMetrics:
    """Accumulates ranking metrics over chunks of events.

    Args:
        n_candidates: int. N, the number of candidate items every rank was counted over (the MRP
            denominator).
        ks: tuple of int. Cut-offs for `recall@K`. Defaults to `(1, 5, 10, 20)`.
        ndcg_ks: tuple of int. Cut-offs for `ndcg@K`. Defaults to `(10,)`.
        averaging: str. `"event"` (micro mean over events) or `"user"` (mean over users of each
            user's mean; `update` then needs `users`). Defaults to `"event"`.

    Example:

    >>> m = RankingMetrics(n_candidates=100, ks=(1, 5), ndcg_ks=())
    >>> m.update([1, 3, 10]).result()["recall@5"]
    0.6666666666666666
    """

    def __init__(self, n_candidates, ks=(1, 5, 10, 20), ndcg_ks=(10,), averaging="event"):
        if int(n_candidates) != n_candidates or n_candidates < 1:
            raise ValueError(f"n_candidates must be an integer ≥ 1, got {n_candidates}")
        if averaging not in AVERAGINGS:
            raise ValueError(f"averaging must be one of {AVERAGINGS}, got {averaging!r}")
        self.n_candidates = int(n_candidates)
        self.ks = _check_ks("ks", ks)
        self.ndcg_ks = _check_ks("ndcg_ks", ndcg_ks)
        self.averaging = averaging
        self.names = (
            [f"recall@{k}" for k in self.ks] + ["mrr", "mrp"] + [f"ndcg@{k}" for k in self.ndcg_ks]
        )
        self.reset()

    def reset(self):
        """Forgets every event seen so far."""
        self._sums = np.zeros(len(self.names))
        self._n_events = 0
        self._has_users = None  # unknown until the first update with events
        self._user_parts = []  # (unique users, event counts [u], metric sums [u, m]) per update

    def _config(self):
        return (self.n_candidates, self.ks, self.ndcg_ks, self.averaging)

    def event_values(self, ranks):
        """Per-event metric values.

        Args:
            ranks: array [n] of 1-based ranks (int or float).

        Returns:
            float64 array [n, m], columns in the order of `self.names`.
        """
        r = np.asarray(ranks, dtype=np.float64)
        cols = [(r <= k).astype(np.float64) for k in self.ks]
        cols += [1.0 / r, (r - 1.0) / self.n_candidates]
        cols += [(r <= k) / np.log2(r + 1.0) for k in self.ndcg_ks]
        return np.stack(cols, axis=1) if cols else np.zeros((r.size, 0))

    def update(self, ranks, users=None):
        """Adds events.

        Args:
            ranks: array [n]. 1-based ranks, 1 ≤ rank ≤ `n_candidates`.
            users: array [n] or `None`. The user of each event (any hashable NumPy dtype);
                required with `averaging="user"`, and either always or never given.

        Returns:
            `self`, for chaining.
        """
        ranks = np.asarray(ranks, dtype=np.float64)
        if ranks.ndim != 1:
            raise ValueError(f"ranks must have shape [n], got {ranks.shape}")
        if users is None and self.averaging == "user":
            raise ValueError('averaging="user" needs the users of the events, got users=None')
        if users is not None:
            users = np.asarray(users)
            if users.shape != ranks.shape:
                raise ValueError(f"users must have shape {ranks.shape}, got {users.shape}")
        if ranks.size == 0:
            return self
        bad = ~np.isfinite(ranks) | (ranks < 1) | (ranks > self.n_candidates)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"ranks must lie in [1, n_candidates={self.n_candidates}], got {ranks[i]} "
                f"at position {i}"
            )
        self._set_has_users(users is not None)
        values = self.event_values(ranks)
        self._sums += values.sum(axis=0)
        self._n_events += ranks.size
        if users is not None:
            uniq, inv = np.unique(users, return_inverse=True)
            self._user_parts.append(_reduce_by_user(uniq, inv, np.ones(ranks.size), values))
        return self

    def _set_has_users(self, has_users):
        if self._has_users is not None and self._has_users != has_users:
            raise ValueError("users must be given with every update or with none")
        self._has_users = has_users

    def merge(self, other):
        """Adds the events of another accumulator with the same settings.

        Args:
            other: `RankingMetrics` with equal `n_candidates`, `ks`, `ndcg_ks`, `averaging`.

        Returns:
            `self`, for chaining.
        """
        if not isinstance(other, RankingMetrics) or other._config() != self._config():
            raise ValueError(
                f"can only merge RankingMetrics with settings {self._config()}, got "
                f"{other._config() if isinstance(other, RankingMetrics) else type(other)}"
            )
        if other._n_events == 0:
            return self
        self._set_has_users(other._has_users)
        self._sums += other._sums
        self._n_events += other._n_events
        self._user_parts.extend(other._user_parts)
        return self

    def _per_user(self):
        """(users [u], event counts [u], metric sums [u, m]) over everything seen."""
        if len(self._user_parts) > 1:
            users = np.concatenate([p[0] for p in self._user_parts])
            counts = np.concatenate([p[1] for p in self._user_parts])
            sums = np.concatenate([p[2] for p in self._user_parts])
            uniq, inv = np.unique(users, return_inverse=True)
            self._user_parts = [_reduce_by_user(uniq, inv, counts, sums)]
        return self._user_parts[0]

    def result(self):
        """The metrics so far.

        Returns:
            dict: `recall@K` for each K in `ks`, `mrr`, `mrp`, `ndcg@K` for each K in
            `ndcg_ks` (floats; NaN when no event was seen), `n_events` (int) and, when users
            were given, `n_users` (int).
        """
        out = {}
        n_users = None
        if self._n_events == 0:
            means = np.full(len(self.names), np.nan)
            n_users = 0 if self.averaging == "user" else None
        elif self._has_users:
            _, counts, sums = self._per_user()
            n_users = counts.size
            if self.averaging == "user":
                means = (sums / counts[:, None]).mean(axis=0)
            else:
                means = self._sums / self._n_events
        else:
            means = self._sums / self._n_events
        for name, value in zip(self.names, means):
            out[name] = float(value)
        out["n_events"] = int(self._n_events)
        if n_users is not None:
            out["n_users"] = int(n_users)
        return out


def _reduce_by_user(uniq, inv, counts, values):
    """Sums event counts and metric values per user (`inv` maps rows to `uniq`)."""
    n = uniq.size
    user_counts = np.bincount(inv, weights=counts, minlength=n)
    sums = np.stack(
        [np.bincount(inv, weights=values[:, j], minlength=n) for j in range(values.shape[1])],
        axis=1,
    ) if values.shape[1] else np.zeros((n, 0))
    return uniq, user_counts, sums


def ranking_metrics(ranks, n_candidates, users=None, **kwargs):
    """One-shot `RankingMetrics(n_candidates, **kwargs).update(ranks, users).result()`."""
    return RankingMetrics(n_candidates, **kwargs).update(ranks, users).result()
