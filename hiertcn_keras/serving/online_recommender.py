"""`OnlineRecommender`: a trained HierTCN run served event by event (the talk's web-scale design).

Item vectors are fixed; each user's interest (the high-level state) lives in a user store; an
event loads it, updates it and saves it; the user embedding is recomputed in real time and
items are ranked by inner product.

`observe_batch(events)` (and `observe(user, item, timestamp)`, a batch of one):

1. resolve each item id (unknown ids raise `UnknownItemError`, or are skipped and counted with
   `unknown_items="skip"`); a user without a record starts from the zero state;
2. read each user's record once, then per event in order decide with `prepare`'s session rule
   (`sessionizer`), and update the users with compiled calls (`user_step.UserStep.many_at`):
   the fold of the finished session when an event starts a new one (one high-level step), then
   the low level over the open session (≤ L items) with the state, giving per event the user
   embedding after it (it ranks the next item) and the one it was predicted with (offline
   `u`); a user's events within one session share one row (the low level is causal), and the
   batch's users are updated together, one call per round (the r-th session segment of every
   user), so a request of events from different users, or of one session, costs one call;
3. write every changed user's record once, all in one compare-and-set transaction
   (`UserStore.put_many`: all or nothing); on a concurrent update of any of them by another
   process, re-read and redo the batch. The state vector changes only when a session starts,
   but the open session's items and the last timestamp change with every accepted event, and
   another serving process (or a restart) must see them. A rejected event (unknown item,
   out of order) stops the batch; the events before it are written.

`recommend(user, k, exclude_seen=True, at=None)` ranks the catalogue with the embedding after
the user's last event; with `at` (the current time), a user whose session has gone idle for
the gap is ranked as at the start of a new session (the fold is computed, not saved).

A run trained with the recency prior (`recency_prior` with a chosen `recency_beta` > 0) is
served with it: every kept event of every user is counted in a live `click_window.ClickWindow`
(after its batch is written), and ranking adds `beta · log1p(clicks in [at − hours, at))` to
`u · v + b`, the evaluation's formula (`at = None`: the window ends at the newest event seen).
A run with the transition prior (`transition_prior` with a chosen `transition_gamma` > 0) is
served with it likewise: every kept event that continues a session is counted as the pair
(the session's previous kept item → its item) in a live `transition_counter.TransitionCounter`,
and ranking adds `gamma · log1p(n(current item → c))` for the user's current item (the open
session's last item; none when `at` starts a new session).

These are the offline model's numbers for the same history (tested per event, to 1e-5).
With `prepare --min-session-len` > 1, a session shorter than that is never folded (prepare
drops it), but the embeddings returned while it was open are not offline numbers (offline it
does not exist); combined with state decay it is refused (see the constructor).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np

from hiertcn_keras.models.recency_prior import prior_enabled
from hiertcn_keras.models.transition_prior import transition_enabled
from hiertcn_keras.serving import sessionizer
from hiertcn_keras.serving.click_window import ClickWindow
from hiertcn_keras.serving.event_checks import check_timestamp
from hiertcn_keras.serving.item_catalog import ItemCatalog, UnknownItemError
from hiertcn_keras.serving.numpy_step import NumpyStep
from hiertcn_keras.serving.online_model import OnlineModel
from hiertcn_keras.serving.retrievers import build_retriever
from hiertcn_keras.serving.serving_run import ServingRun
from hiertcn_keras.serving.transition_counter import TransitionCounter, merge_boosts
from hiertcn_keras.serving.user_state import UserState
from hiertcn_keras.serving.user_step import ReferenceStep, UserStep
from hiertcn_keras.serving.user_store_url import open_user_store

UNKNOWN_ITEMS = ("reject", "skip")


@dataclasses.dataclass
class Observation:
    """The result of one event.

    Attributes:
        user: str.
        item: str.
        status: str. `new_session`, `kept`, `repeat`, `truncated` (accepted), or `duplicate`,
            `out_of_order`, `unknown_item` (skipped; the state is unchanged).
        position: int or `None`. The event's position in its session (kept events).
        embedding: float32 `[E]` or `None`. The user embedding after the event (ranks the
            next item); `None` for skipped events.
        prior_embedding: float32 `[E]` or `None`. The embedding this event was predicted with
            (offline `u` of the event); only for kept events.
        session: list of int or `None`. The open session's item indices after the event (what
            `recommend(exclude_seen=True)` leaves out).
    """

    user: str
    item: str
    status: str
    position: int | None = None
    embedding: np.ndarray | None = None
    prior_embedding: np.ndarray | None = None
    session: list | None = None

    @property
    def accepted(self):
        return self.status in ("new_session", "kept", "repeat", "truncated")


@dataclasses.dataclass
class BatchResult:
    """The result of `observe_batch`.

    Attributes:
        observations: list of `Observation`, one per applied event (a prefix of the batch).
        error: `None`, or `(index, exception)` of the event that stopped the batch
            (`UnknownItemError`, `OutOfOrderError`, or `ValueError` for a bad timestamp).
    """

    observations: list
    error: tuple | None = None


STEPS = ("auto", "numpy", "compiled", "reference")
# User vectors sampled to measure an approximate index's recall@10: half calibrate nprobe to a
# recall target, half report it. The calibration's margin shrinks with √(its half): 2,000
# queries hold a 0.99 target on held-out queries for a few cells more than the mean alone.
RECALL_QUERIES = 1000
RECALL_QUERIES_CALIBRATED = 4000


def recall_queries_for(options):
    """How many user vectors `sample_queries` draws for a retriever's `options`."""
    return RECALL_QUERIES_CALIBRATED if options.get("recall_target") is not None else RECALL_QUERIES


def user_update(run, step="auto", table=None):
    """The `(OnlineModel, step)` that updates a run's users (see `OnlineRecommender`'s `step`).

    `numpy` (and `auto` for a HierTCN run) checks `NumpyStep` against the eager Keras graph on a
    probe batch first; `numpy` raises `ValueError` when it cannot serve the run exactly, `auto`
    then uses `compiled`. `table`: the served catalogue's vectors, which `NumpyStep` reads
    item vectors from when they equal the model's item table.
    """
    if step not in STEPS:
        raise ValueError(f"step must be one of {STEPS}, got {step!r}")
    model = OnlineModel(run.recommender, warm=step == "reference")
    if step == "reference":
        return model, ReferenceStep(model)
    if step == "numpy" or (step == "auto" and model.config.model == "hiertcn"):
        try:
            fast = NumpyStep(model, table=table)
            fast.verify(UserStep(model, compiled=False, batch_sizes=(1, 64)))
            return model, fast
        except ValueError as error:
            if step == "numpy":
                raise
            warnings.warn(f"the NumPy user update cannot serve this run exactly ({error}); using the compiled one",
                          stacklevel=2)
    return model, UserStep(model)


def default_store_path(run_dir):
    """Where `serve` keeps a run's SQLite user store unless told otherwise: outside the run.

    `$HIERTCN_STATE_HOME` (else `$XDG_STATE_HOME/hiertcn`, else `~/.local/state/hiertcn`)
    `/serving/<run folder name>-<8 hex of its absolute path>/users.sqlite`: per run folder, and
    never inside it, so retraining into the run folder cannot delete the users' states.
    """
    run_dir = Path(run_dir).resolve()
    base = os.environ.get("HIERTCN_STATE_HOME")
    if not base:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        base = str(Path(xdg) / "hiertcn")
    tag = hashlib.sha256(str(run_dir).encode()).hexdigest()[:8]
    return Path(base) / "serving" / f"{run_dir.name}-{tag}" / "users.sqlite"


@dataclasses.dataclass
class Recommendations:
    """Top-K items for a user: `items` (ids), `scores`, `indices` and the `embedding` used."""

    user: str
    items: list
    scores: np.ndarray
    indices: np.ndarray
    embedding: np.ndarray


class OnlineRecommender:
    """Online HierTCN: per-event user embeddings and top-K from stored user states.

    Args:
        run: `ServingRun`.
        catalog: `ItemCatalog`.
        store: a `UserStore` for this run's fingerprint.
        retrieval: str or a retriever. `exact` (default), `ivf` or `hnsw`, or an object with
            `search(queries, k, exclude=...)`.
        retrieval_options: dict. Passed to `build_retriever`.
        unknown_items: str. `reject` (raise `UnknownItemError`) or `skip` (count and go on).
            Defaults to `reject`.
        out_of_order: str. `reject`, `skip` or `clamp` (see `sessionizer`). Defaults to `reject`.
        max_retries: int. Compare-and-set attempts before giving up. Defaults to 100.
        step: str. The user update: `auto` (default: `numpy` for a HierTCN run, else
            `compiled`), `numpy` (`NumpyStep`: the same layers in NumPy over the request's real
            positions only, checked against the Keras graph at start), `compiled` (`UserStep`,
            one compiled call per round of a batch: one per event for single events) or
            `reference` (`OnlineModel.fold` + `embed` per event, the slower path it replaced);
            or the `(model, step)` pair of a recommender of the same `run` that serves nothing
            any more (`store_follower` reuses a replaced store's steps).
        recency: `"auto"` (default: a `ClickWindow` when the run's configuration has the
            recency prior with a weight > 0), `None` (rank by `u · v + b` only), or a
            `ClickWindow` to share (recommenders of one server that replace each other).
        transitions: `"auto"` (default: a `TransitionCounter` when the run's configuration has
            the transition prior with a weight > 0), `None` (no transition prior), or a
            `TransitionCounter` to share.

    Example:

    >>> rec = OnlineRecommender.open("runs/hiertcn", items="runs/items",    # doctest: +SKIP
    ...                              store="sqlite:users.sqlite")
    >>> rec.observe("u1", "i42", 1700000000).embedding.shape
    (128,)
    >>> rec.recommend("u1", k=10).items
    """

    def __init__(self, run, catalog, store, *, retrieval="exact", retrieval_options=None,
                 unknown_items="reject", out_of_order="reject", max_retries=100, step="auto", recency="auto",
                 transitions="auto"):
        if unknown_items not in UNKNOWN_ITEMS:
            raise ValueError(f"unknown_items must be one of {UNKNOWN_ITEMS}, got {unknown_items!r}")
        if out_of_order not in sessionizer.OUT_OF_ORDER:
            raise ValueError(f"out_of_order must be one of {sessionizer.OUT_OF_ORDER}, got {out_of_order!r}")
        if store.fingerprint != run.fingerprint:
            raise ValueError(f"the user store is bound to model {store.fingerprint}, the run is {run.fingerprint}")
        self.run = run
        self.catalog = catalog
        self.store = store
        if isinstance(step, tuple):  # `(OnlineModel, step)` of an idle recommender of the same run, reused
            self.model, self.step = step
        else:
            self.model, self.step = user_update(run, step, table=catalog.table)
        self.rules = run.rules
        if self.rules.min_session_len > 1 and self.model.config.decay_bandwidth is not None:
            # Offline, a dropped short session leaves no trace, so the next session's decay is
            # measured from the session before it; online the decay was already applied when
            # the short session started. Refuse rather than serve numbers that differ.
            raise ValueError(
                f"data prepared with min_session_len={self.rules.min_session_len} and a model with state decay "
                f"(decay_bandwidth={self.model.config.decay_bandwidth}) cannot be served online exactly"
            )
        if catalog.dim != self.model.output_dim:
            raise ValueError(f"item vectors have dim {catalog.dim}, the user embedding {self.model.output_dim}")
        if isinstance(retrieval, str):
            options = dict(retrieval_options or {})
            if retrieval != "exact" and "recall_queries" not in options:
                options["recall_queries"] = self.sample_queries(recall_queries_for(options))
            retrieval = build_retriever(retrieval, catalog.table, catalog.bias, **options)
        self.retriever = retrieval
        self.unknown_items = unknown_items
        self.out_of_order = out_of_order
        self.max_retries = int(max_retries)
        self.counters = collections.Counter()
        self._counter_lock = threading.Lock()
        # Serving a dated store (`store_follower`): its stamp and counts, and the items it ranks
        # (an event on any other item is still applied, read as a zero vector, and counted).
        self.items_info = None
        self.candidates = None
        # Threads of one process serialize per user here; processes meet in the store's CAS.
        self._user_locks = [threading.Lock() for _ in range(256)]
        config = self.model.config
        self.recency_beta = float(config.recency_beta) if prior_enabled(config) else 0.0
        if isinstance(recency, str) and recency == "auto":
            recency = ClickWindow(catalog.n_catalogue + 1, config.recency_hours) if self.recency_beta else None
        elif recency is not None and not isinstance(recency, ClickWindow):
            raise ValueError(f"recency must be 'auto', None or a ClickWindow, got {recency!r}")
        if recency is not None and not self.recency_beta:
            raise ValueError("a click window was given but the run's configuration has no recency prior")
        self.clicks = recency
        self.transition_gamma = float(config.transition_gamma) if transition_enabled(config) else 0.0
        if isinstance(transitions, str) and transitions == "auto":
            transitions = TransitionCounter(catalog.n_catalogue + 1) if self.transition_gamma else None
        elif transitions is not None and not isinstance(transitions, TransitionCounter):
            raise ValueError(f"transitions must be 'auto', None or a TransitionCounter, got {transitions!r}")
        if transitions is not None and not self.transition_gamma:
            raise ValueError("a transition counter was given but the run's configuration has no transition prior")
        self.transitions = transitions

    @classmethod
    def open(cls, run_dir, *, items=None, store=None, data_dir=None, session_gap=None, **kwargs):
        """Open a run directory for serving.

        Args:
            run_dir: str or Path. Written by `hiertcn train` (HierTCN or HierGRU).
            items: str, Path or `None`. An item embedding store (see `ItemCatalog.from_run`).
            store: str or `UserStore` or `None`. A store URL (`sqlite:PATH`, `redis://...`);
                `None` = SQLite at `default_store_path(run_dir)` (outside the run folder).
            data_dir: str, Path or `None`. The run's prepared dataset if it moved.
            session_gap: float or `None`. Override the dataset's idle gap.
            **kwargs: passed to the constructor.

        Returns:
            `OnlineRecommender`.
        """
        run = ServingRun.open(run_dir, data_dir=data_dir, session_gap=session_gap)
        catalog = ItemCatalog.from_run(run, items)
        if store is None:
            store = f"sqlite:{default_store_path(run.run_dir)}"
        if isinstance(store, str):
            store = open_user_store(store, run.fingerprint)
        return cls(run, catalog, store, **kwargs)

    def sample_queries(self, n=1000, seed=0, batch=250):
        """The model's own user embeddings of `n` random users, as traffic would query with them.

        The queries an approximate index's build-time recall@10 is measured on (and, with a
        recall target, its nprobe calibrated on: `RECALL_QUERIES_CALIBRATED`): user embeddings,
        whose distribution (norms included) differs from the item vectors'. A quarter are new
        users (an open session of 1–3 random catalogue items from the zero state); the others
        return (one to three finished sessions of 1–10 random items folded, 1.5 hours apart at
        the session gap or more, then an open session of 1–10): a returning user's embedding
        is harder for an index than a new one's (at 1M items, recall@10 0.9919 against 0.9934
        at the same settings in docs/serving.md's retrieval table), and most traffic is theirs.
        Computed by the served user update (`step.many`, the numbers `observe` gives); rows
        alternate between the two kinds in blocks of `batch`, so each half of the queries
        (calibration, held out) holds both.

        Returns:
            float32 `[n, E]`.
        """
        rng = np.random.default_rng(seed)
        L, H = self.rules.max_session_len, self.model.state_size
        gap = max(5400.0, float(self.rules.session_gap or 0.0))
        out = []

        def items(low, high):
            return rng.integers(1, self.catalog.n_catalogue + 1, rng.integers(low, min(high, L) + 1)).tolist()

        for block, start in enumerate(range(0, n, batch)):
            rows = min(batch, n - start)
            context = np.zeros((rows, H), np.float32)
            if block % 4 == 0:
                sessions = [items(1, 3) for _ in range(rows)]
            else:
                folds = rng.integers(1, 4, rows)
                for r in range(int(folds.max())):
                    finished = [items(1, 10) if folds[q] > r else None for q in range(rows)]
                    context = self._embed(context, finished, [gap if f is not None else None for f in finished],
                                          [[] for _ in range(rows)])[0]
                sessions = [items(1, 10) for _ in range(rows)]
            out.append(self._embed(context, [None] * rows, [None] * rows, sessions)[1])
        return np.concatenate(out).astype(np.float32, copy=False)

    def _embed(self, contexts, finished, gaps, sessions):
        """`(contexts [Q, H], embeddings [Q, E])` after folding `finished` and reading `sessions` (`sample_queries`)."""
        if isinstance(self.step, ReferenceStep):  # one call per user: the model's batched calls instead
            contexts = np.array(contexts, np.float32)
            rows = [q for q, f in enumerate(finished) if f is not None]
            if rows:
                contexts[rows] = self.model.fold(contexts[rows], [finished[q] for q in rows],
                                                 gap=np.array([gaps[q] for q in rows], np.float32))
            u = self.model.embed(contexts, sessions)
            return contexts, u[np.arange(len(sessions)), [len(s) for s in sessions]]
        batch = self.step.many(contexts, finished, gaps, sessions)
        return batch.context, batch.embedding

    # -- events ------------------------------------------------------------------------------

    def _count(self, key, n=1):
        with self._counter_lock:
            self.counters[key] += n

    def counts(self):
        """A copy of the event counters (accepted, each decision kind, skips, store conflicts)."""
        with self._counter_lock:
            return dict(self.counters)

    def _lock_for(self, user):
        return self._user_locks[zlib.crc32(user.encode()) % len(self._user_locks)]

    def state_of(self, user):
        """`UserState` of a user (the zero state for an unknown user)."""
        got = self.store.get(str(user))
        return got[0] if got is not None else UserState.initial(self.model.state_size)

    def _locks_for(self, users):
        """The lock stripes of `users`, in one global order (so two batches never deadlock)."""
        return [self._user_locks[i] for i in sorted({zlib.crc32(u.encode()) % len(self._user_locks) for u in users})]

    def observe(self, user, item, timestamp):
        """Process one event.

        Args:
            user: str or int. The user id.
            item: str or int. An item id of the run's vocabulary.
            timestamp: float. Unix seconds (the unit `prepare` used), in the range of `limits`.

        Returns:
            `Observation`.

        Raises:
            UnknownItemError: an item id not in the vocabulary (`unknown_items="reject"`).
            OutOfOrderError: an event older than the user's last (`out_of_order="reject"`).
            ValueError: a timestamp that is not finite or outside the plausible range.
        """
        result = self.observe_batch([(user, item, timestamp)])
        if result.error is not None:
            raise result.error[1]
        return result.observations[0]

    def observe_many(self, events):
        """Process `(user, item, timestamp)` events in order; a list of `Observation`s.

        Raises the first rejected event's error after writing the events before it.
        """
        result = self.observe_batch(events)
        if result.error is not None:
            raise result.error[1]
        return result.observations

    def observe_batch(self, events):
        """Process `(user, item, timestamp)` events in order, one store write per user.

        Args:
            events: iterable of `(user, item, timestamp)`.

        Returns:
            `BatchResult`: the observations of the events applied and, if an event was
            rejected, its index and error (the events before it are written, none after).
        """
        parsed, error = [], None
        for n, (user, item, timestamp) in enumerate(events):
            try:
                timestamp = check_timestamp(timestamp)
            except ValueError as exc:
                error = (n, exc)
                break
            parsed.append((str(user), str(item), timestamp))
        users = list(dict.fromkeys(u for u, _, _ in parsed))
        locks = self._locks_for(users)
        for lock in locks:
            lock.acquire()
        try:
            for _ in range(self.max_retries):
                observations, counts, stop, changed, clicks = self._apply(parsed)
                updates = [(user, state, version) for user, (state, version) in changed.items()]
                if not updates or self.store.put_many(updates):
                    break
                self._count("store_conflicts")
            else:
                raise RuntimeError(f"users {users[:5]}: {self.max_retries} concurrent updates in a row; giving up")
        finally:
            for lock in reversed(locks):
                lock.release()
        if clicks:  # written: now they are everyone's recent clicks and pairs
            items, times, previous = zip(*clicks)
            if self.clicks is not None:
                counts["recency_counted"] += self.clicks.add(items, times)
            if self.transitions is not None:
                counts["transitions_counted"] += self.transitions.add(previous, items, times)
        with self._counter_lock:
            self.counters.update(counts)
        return BatchResult(observations, stop if stop is not None else error)

    def _apply(self, events):
        """One pass over the events from freshly read records (nothing written).

        The session rule runs event by event; a user's accepted events are then cut into
        segments, one per session they touch (a segment starts at a `new_session` event, with
        the fold of the session it ends). The low level is causal, so all of a segment's events
        are ONE row: the open session as it stands after the segment's last event, read at
        each event's position. The model updates the users in rounds: round r holds the r-th
        segment of every user that has one (a round's users are all different), in one call
        (`UserStep.many_at`), each from the context the previous segment left. A request of
        many events of one session is one call, however many events it holds.

        Returns:
            `(observations, counters, stop, changed, clicks)`: `stop` is `None` or `(index,
            error)`; `changed` maps each updated user to `(new state, the version read)`;
            `clicks` lists `(item index, time, previous item)` of the kept events (the recency
            prior's clicks; with the session's previous kept item, 0 at a session start, the
            transition prior's pairs).
        """
        current, versions, changed, clicks = {}, {}, {}, []
        observations, counts = [], collections.Counter()
        contexts, pending = {}, collections.defaultdict(list)  # user → [(finished, gap, [observation])]
        stop = None
        records = self.store.get_many(dict.fromkeys(user for user, _, _ in events))  # one read per request
        for n, (user, item_id, timestamp) in enumerate(events):
            index = self.catalog.index_of_one(item_id)
            if index < 0:
                if self.unknown_items == "reject":
                    stop = (n, UnknownItemError(f"unknown item id {item_id!r} (not in the run's vocabulary)"))
                    break
                counts["skipped_unknown_item"] += 1
                observations.append(Observation(user, item_id, "unknown_item"))
                continue
            if self.candidates is not None and not self.candidates[index]:
                counts["item_not_in_store"] += 1
            if user not in current:
                got = records[user]
                current[user], versions[user] = got if got is not None else (
                    UserState.initial(self.model.state_size), None)
                contexts[user] = current[user].context
            old = current[user]
            try:
                decision = sessionizer.decide(old, index, timestamp, self.rules, out_of_order=self.out_of_order)
            except sessionizer.OutOfOrderError as exc:
                stop = (n, exc)
                break
            if not decision.changes_state:
                counts[f"skipped_{decision.kind}"] += 1
                observations.append(Observation(user, item_id, decision.kind))
                continue
            new = sessionizer.apply(old, index, decision)
            fold = decision.kind == "new_session" and len(old.session) >= self.rules.min_session_len
            observation = Observation(user, item_id, decision.kind,
                                      position=len(new.session) - 1 if decision.kept else None,
                                      session=list(new.session))
            if decision.kind == "new_session" or not pending[user]:
                pending[user].append((list(old.session) if fold else None,
                                      decision.timestamp - old.last_kept_timestamp if fold else None, []))
            pending[user][-1][2].append(observation)
            current[user] = new
            changed[user] = (new, versions[user])
            if decision.kept:
                previous = old.session[-1] if decision.kind != "new_session" and old.session else 0
                clicks.append((index, decision.timestamp, previous))
            counts["accepted"] += 1
            counts[decision.kind] += 1
            observations.append(observation)
        for r in range(max((len(p) for p in pending.values()), default=0)):
            users = [user for user, p in pending.items() if len(p) > r]
            rows = [pending[user][r] for user in users]
            # Per event: the embedding after it (position m, its session's length) and, for a
            # kept event, the one it was predicted with (m − 1).
            positions = [[p for obs in segment for p in ((len(obs.session), len(obs.session) - 1)
                                                         if obs.position is not None else (len(obs.session),))]
                         for _, _, segment in rows]
            context, embeddings = self.step.many_at(
                np.stack([contexts[user] for user in users]), [finished for finished, _, _ in rows],
                [gap for _, gap, _ in rows], [segment[-1].session for _, _, segment in rows], positions)
            for q, (user, (_, _, segment)) in enumerate(zip(users, rows)):
                contexts[user] = context[q]
                k = 0
                for obs in segment:
                    obs.embedding = embeddings[q][k]
                    if obs.position is not None:
                        obs.prior_embedding = embeddings[q][k + 1]
                    k += 2 if obs.position is not None else 1
        for user, (new, _) in changed.items():
            new.context = contexts[user]
        return observations, counts, stop, changed, clicks

    def reset(self, user):
        """Forget a user's stored state (their next event starts from the zero state).

        Returns:
            bool. Whether a state was stored.
        """
        user = str(user)
        with self._lock_for(user):
            existed = self.store.get(user) is not None
            self.store.delete(user)
        if existed:
            self._count("users_reset")
        return existed

    # -- ranking -----------------------------------------------------------------------------

    def embedding(self, user, at=None):
        """The user embedding that ranks the user's next item (see `recommend`), float32 `[E]`."""
        return self._query(str(user), at)[0]

    def _query(self, user, at):
        """The user embedding that ranks the user's next item.

        Args:
            user: str or int.
            at: float or `None`. The current time: when the user's session has been idle for
                the gap, the next event would open a new session, so rank from there.

        Returns:
            `(embedding float32 [E], the open session's items, the current item)`: the current
            item is the open session's last item, 0 when the next event starts a session.
        """
        state = self.state_of(user)
        context, session = state.context, state.session
        idle = at is not None and state.last_timestamp is not None and \
            self.rules.starts_session(float(at) - state.last_timestamp)
        finished, gap = None, None
        if idle:
            if len(session) >= self.rules.min_session_len:
                finished, gap = session, float(at) - state.last_kept_timestamp
            session = []
        current = session[-1] if session else 0
        return self.step(context, finished, gap, session).embedding, state.session, current

    def recommend(self, user, k=10, *, exclude_seen=True, at=None):
        """Top-k items for a user.

        Args:
            user: str or int. An unknown user gets the zero state's ranking.
            k: int ≥ 1.
            exclude_seen: bool. Leave out the items of the user's open session (the store keeps
                only that session, as the talk's design does). Defaults to `True`.
            at: float or `None`. The current time (see `embedding`); with the recency prior
                also the end of its window (`None`: the newest event seen).

        Returns:
            `Recommendations`.
        """
        user = str(user)
        u, seen, current = self._query(user, at)
        exclude = [set(seen)] if exclude_seen else None
        boost = merge_boosts(self.recency_boost(at), self.transition_boost(current, at))
        indices, scores = self.retriever.search(u[None], k, exclude=exclude, boost=boost)
        return Recommendations(user, self.catalog.ids_of(indices[0]), scores[0], indices[0], u)

    def warm(self):
        """Compile every batch shape of the user update and touch the retriever, before traffic.

        `UserStep` compiles its one-row buckets at construction and the others (4, 16, 64 rows
        per call: batched requests) on first use, about a second each; this compiles them all
        now, then runs one search per row bucket so the retriever's first queries (faiss's
        index pages, the memory-mapped table) are paid here too.

        Returns:
            dict: `functions` (compiled update functions in all), `compiled_now`, `seconds`.
        """
        import time

        started = time.perf_counter()
        before = getattr(self.step, "traces", 0)
        functions = self.step.warm() if hasattr(self.step, "warm") else 0
        for rows in getattr(self.step, "batch_sizes", (1,)):
            self.retriever.search(np.zeros((rows, self.catalog.dim), np.float32), 10, boost=self.recency_boost())
        return {"functions": functions, "compiled_now": getattr(self.step, "traces", 0) - before,
                "seconds": round(time.perf_counter() - started, 2)}

    def recency_boost(self, at=None):
        """The served recency prior at `at`: `(indices, beta · log1p(clicks))` of the hot items, or `None`.

        `None` when the run has no prior. Counts `recency_past_horizon` when `at` reaches back
        before what the click window kept (its counts then miss forgotten clicks).
        """
        if self.clicks is None:
            return None
        indices, values, exact = self.clicks.offsets(self.recency_beta, at)
        if not exact:
            self._count("recency_past_horizon")
        return indices, values

    def transition_boost(self, item, at=None):
        """The served transition prior for a current item at `at`: `(indices, gamma · log1p(n))`, or `None`.

        `None` when the run has no transition prior or there is no current item (0). Counts
        `transitions_past_horizon` when `at` reaches back past what the counter keeps exactly.
        """
        if self.transitions is None or item <= 0:
            return None
        indices, values, exact = self.transitions.offsets(self.transition_gamma, item, at)
        if not exact:
            self._count("transitions_past_horizon")
        return indices, values

    def top_k(self, embeddings, k=10, exclude=None, at=None):
        """Rank the catalogue for given embeddings `[Q, E]` (at time `at`, see `recommend`): `(indices, scores)`."""
        return self.retriever.search(embeddings, k, exclude=exclude, boost=self.recency_boost(at))

    def recency_report(self):
        """The served recency prior for logs and `/healthz`: `None`, or its window, weight and counts."""
        if self.clicks is None:
            return None
        return {"beta": self.recency_beta, **self.clicks.report()}

    def transition_report(self):
        """The served transition prior for logs and `/healthz`: `None`, or its weight and counts."""
        if self.transitions is None:
            return None
        return {"gamma": self.transition_gamma, **self.transitions.report()}

    def close(self):
        self.store.close()
