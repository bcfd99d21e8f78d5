"""The user update for one event, or for a batch of users, as one compiled call with fixed shapes.

Shape legend: Q users, L steps per session (`max_session_len`), H high-level state size, E
user-embedding size, T input steps of a bucket (2 ≤ T ≤ L + 1), B rows of a batch bucket.

Per event the online path needs two numbers of `OnlineModel`: the new context (the fold, only
when the event starts a session) and the user embeddings at the open session's last two
positions. `OnlineModel.embed` and `OnlineModel.fold` are two calls, each through a
polymorphic `tf.function`, and `embed` always runs the low level over all L + 1 steps.
`UserStep` does both in ONE call of a concrete function traced once per shape:

- the fold is always computed and selected with a flag (`where(fold, fold(c), c)`): a GRU step
  costs less than a second call;
- the low level runs on the first T inputs only, T the smallest bucket (2, 4, 8, 16, L + 1) that
  holds `[x̂, a1..am]`: the low level is causal, so positions ≤ m are the same as over L + 1
  steps, and a user early in a session (most events) costs a fraction of the full width;
- inputs are packed into one int32 and one float32 tensor (each conversion costs a few µs);
- `many` updates Q different users in one call: rows are padded to the next batch bucket B
  (1, 4, 16, 64; more than 64 rows take several calls), T is the bucket of the longest
  session. A call's fixed cost (dispatch, conversions) dwarfs its arithmetic at these sizes,
  so a request's users are updated together (`OnlineRecommender.observe_batch`).

On the TensorFlow backend every (T, B) is a `tf.function` with a fixed `input_signature`,
compiled with XLA (`jit_compile`) and then called as a concrete function, which skips the
polymorphic dispatch. The one-row buckets are compiled at construction (the first event does
not pay for it); the others on first use (about a second each, once) or all at once with
`warm()`. On the JAX
backend each bucket is the graph's `stateless_call` under `jax.jit` (the weights are
arguments, not constants baked into the executable). On the other backends the same Keras
graph is called directly. `compiled=False` calls it eagerly on every backend (the reference
the tests compare the compiled step against, to 1e-5).

`ReferenceStep` is the same contract computed with `OnlineModel.embed` and `OnlineModel.fold`
(full width, two calls per user): the path before this module, kept as a reference and as the
benchmarks' "before".
"""

from __future__ import annotations

import threading

import keras
import numpy as np
from keras import ops


BATCH_BUCKETS = (1, 4, 16, 64)


def _buckets(max_session_len):
    steps = max_session_len + 1
    return sorted({b for b in (2, 4, 8, 16) if b < steps} | {steps})


def decay_factor(config, gap):
    """`exp(−gap / bandwidth)` as float32, or 1 for a model without state decay."""
    bandwidth = config.decay_bandwidth
    if bandwidth is None or gap is None:
        return np.float32(1.0)
    return np.float32(np.exp(-np.maximum(np.float32(gap), np.float32(0.0)) / np.float32(bandwidth)))


def _eager(graph):
    def call(ints, floats):
        return [ops.convert_to_numpy(x) for x in graph([ints, floats], training=False)]

    return call


def _tf_concrete(graph, rows, n_ints, n_floats, jit_compile):
    """The graph as a concrete `tf.function` of `[rows, n_ints]` int32, `[rows, n_floats]` float32.

    The traced function takes exactly the two signature arguments: a concrete function whose
    Python signature does not bind (an extra defaulted parameter) falls back to a slow path that
    formats its arguments as text on every call (measured: milliseconds per call).
    """
    import tensorflow as tf  # the compiler of the default backend

    def step(ints, floats):
        return graph([ints, floats], training=False)

    concrete = tf.function(step, input_signature=[tf.TensorSpec([rows, n_ints], tf.int32),
                                                  tf.TensorSpec([rows, n_floats], tf.float32)],
                           jit_compile=bool(jit_compile)).get_concrete_function()

    def call(ints, floats):
        return [x.numpy() for x in concrete(tf.constant(ints), tf.constant(floats))]

    return call


def _jax_jit(graph):
    """The graph's `stateless_call` under `jax.jit`, its weights passed as arguments."""
    import jax  # the compiler of the JAX backend

    trainable = [v.value for v in graph.trainable_variables]
    non_trainable = [v.value for v in graph.non_trainable_variables]

    @jax.jit
    def step(trainable, non_trainable, ints, floats):
        outputs, _ = graph.stateless_call(trainable, non_trainable, [ints, floats], training=False)
        return outputs

    def call(ints, floats):
        return [np.asarray(x) for x in step(trainable, non_trainable, ints, floats)]

    return call


class StepResult:
    """What one update returns: the context after a possible fold, and embeddings at `m − 1`, `m`.

    Attributes:
        context: float32 `[H]`. The state the open session is read with.
        embedding: float32 `[E]`. Position m (the session's length): ranks the next item.
        prior_embedding: float32 `[E]` or `None`. Position m − 1 (`None` when m = 0).
    """

    __slots__ = ("context", "embedding", "prior_embedding")

    def __init__(self, context, embedding, prior_embedding):
        self.context, self.embedding, self.prior_embedding = context, embedding, prior_embedding


class StepBatch:
    """What `many` returns for Q users (row q is `StepResult` of user q).

    Attributes:
        context: float32 `[Q, H]`.
        embedding: float32 `[Q, E]`. Position m of each user.
        prior_embedding: float32 `[Q, E]`. Position m − 1 (rows with m = 0 hold position 0).
        lengths: int array `[Q]`. Each user's m.
    """

    __slots__ = ("context", "embedding", "prior_embedding", "lengths")

    def __init__(self, context, embedding, prior_embedding, lengths):
        self.context, self.embedding, self.prior_embedding = context, embedding, prior_embedding
        self.lengths = lengths

    def __len__(self):
        return len(self.lengths)

    def row(self, q):
        """Row q as a `StepResult`."""
        m = int(self.lengths[q])
        return StepResult(self.context[q], self.embedding[q], self.prior_embedding[q] if m else None)


def check_inputs(L, H, contexts, finished, gaps, sessions):
    """The arguments of `many`, checked: contexts as float32 `[Q, H]` (`ValueError` on a mismatch)."""
    q = len(sessions)
    if not (len(finished) == len(gaps) == q):
        raise ValueError(f"finished, gaps and sessions must have one entry per user: "
                         f"{len(finished)}, {len(gaps)}, {q}")
    check_lengths(L, finished, sessions)
    return np.asarray(contexts, np.float32).reshape(q, H)


def check_positions(positions, sessions):
    """`ValueError` unless `positions` (of `many_at`) has one entry per user, each in `0..len(session)`."""
    if len(positions) != len(sessions):
        raise ValueError(f"positions must have one entry per user: {len(positions)}, {len(sessions)}")
    for p, s in zip(positions, sessions):
        if len(p) and (min(p) < 0 or max(p) > len(s)):
            raise ValueError(f"positions must lie in 0..{len(s)} (the session's length), got {list(p)}")


def check_lengths(L, finished, sessions):
    """`ValueError` unless every open and finished session holds at most L items."""
    for items in list(sessions) + [f for f in finished if f is not None]:
        if len(items) > L:
            raise ValueError(f"a session holds at most L = {L} items, got {len(items)}")


class UserStep:
    """The fused fold + low-level update of users, compiled once per bucket of session length and rows.

    Args:
        online: `OnlineModel`.
        compiled: bool. Trace and compile the buckets (TensorFlow: XLA; JAX: `jax.jit`); the
            one-row buckets now, the others on first use or `warm()`. `False` calls the Keras
            graph eagerly. Defaults to `True`.
        jit_compile: bool. TensorFlow only: XLA for the traced functions. Defaults to `True`.
        batch_sizes: sequence of ints. The row buckets B of `many` (1 must be one of them; the
            largest is the most rows per call). Defaults to `BATCH_BUCKETS` (1, 4, 16, 64).

    Example:

    >>> step = UserStep(OnlineModel(recommender))                       # doctest: +SKIP
    >>> out = step(context, finished=[3, 7], gap=5400.0, session=[9])
    >>> out.embedding.shape                                             # ranks the next item
    (128,)
    >>> step.many(contexts, [None, [3, 7]], [None, 5400.0], [[4, 5], [9]]).embedding.shape
    (2, 128)
    """

    def __init__(self, online, *, compiled=True, jit_compile=True, batch_sizes=BATCH_BUCKETS):
        self.online = online
        self.config = online.config
        self.max_session_len = L = online.max_session_len
        self.state_size = H = online.state_size
        self.buckets = _buckets(L)
        self.batch_sizes = sorted({int(b) for b in batch_sizes})
        if self.batch_sizes[0] != 1:
            raise ValueError(f"batch_sizes must include 1, got {list(batch_sizes)}")
        self._graphs = {steps: self._graph(steps) for steps in self.buckets}
        self.compiled = bool(compiled)
        self._jit_compile = bool(jit_compile)
        self._calls = {}
        self._lock = threading.Lock()
        #: Functions traced (and compiled) so far: one per bucket of steps × rows used.
        self.traces = 0
        for steps in self.buckets:  # one row: compile now, not on the first user's event
            self._call(steps, 1)

    def _call(self, steps, rows):
        """The function of bucket `(steps, rows)`, traced and compiled (once) on first use."""
        call = self._calls.get((steps, rows))
        if call is not None:
            return call
        with self._lock:  # tracing from two threads at once races
            if (steps, rows) not in self._calls:
                L, H = self.max_session_len, self.state_size
                graph, backend = self._graphs[steps], keras.backend.backend()
                if self.compiled and backend == "tensorflow":
                    call = _tf_concrete(graph, rows, steps + L, H + 2, self._jit_compile)
                elif self.compiled and backend == "jax":
                    # jax.jit specialises on shapes itself: one function per bucket of steps.
                    call = self._calls.get((steps, 1)) or _jax_jit(graph)
                else:
                    call = _eager(graph)
                call(np.zeros((rows, steps + L), np.int32), np.zeros((rows, H + 2), np.float32))
                self._calls[steps, rows] = call
                self.traces += 1
            return self._calls[steps, rows]

    def warm(self):
        """Compile every bucket of steps × rows now (else each on its first use, ~1 s once).

        Returns:
            int. The number of compiled functions.
        """
        for steps in self.buckets:
            for rows in self.batch_sizes:
                self._call(steps, rows)
        return len(self._calls)

    def _graph(self, steps):
        """`[ints [B, T + L], floats [B, H + 2]]` → `[context [B, H], u [B, T, E]]`.

        `ints` = the T low-level inputs `[x̂, a1..am, 0…]` then the finished session's L items;
        `floats` = the stored context, the fold flag (1 = fold) and the decay factor.
        """
        L, H = self.max_session_len, self.state_size
        ints = keras.Input((steps + L,), dtype="int32", name="ints")
        floats = keras.Input((H + 2,), dtype="float32", name="floats")
        context, flag, decay = floats[:, :H], floats[:, H : H + 1], floats[:, H + 1 : H + 2]
        folded = self.online.fold_model([ints[:, steps:], context, decay])
        context = ops.where(ops.greater(flag, 0.5), folded, context)
        u = self.online.low_level_model(steps)([ints[:, :steps], context])
        return keras.Model([ints, floats], [context, u], name=f"online_user_step_{steps}")

    def __call__(self, context, finished, gap, session):
        """Update one user for one event.

        Args:
            context: float array `[H]`: the stored context.
            finished: sequence of item indices or `None`: the session to fold first (`None` =
                no fold).
            gap: float or `None`: seconds from the finished session's last kept event to this
                one (read only when the model decays its state).
            session: sequence of item indices (≤ L): the open session after the event.

        Returns:
            `StepResult`.
        """
        return self.many(np.asarray(context, np.float32)[None], [finished], [gap], [session]).row(0)

    def many(self, contexts, finished, gaps, sessions):
        """Update Q different users, one event each, in as few compiled calls as the buckets allow.

        Args:
            contexts: float array `[Q, H]`: the stored contexts.
            finished: Q sequences of item indices or `None`s: the sessions to fold first.
            gaps: Q floats or `None`s (see `__call__`).
            sessions: Q sequences of item indices (≤ L): the open sessions after the events.

        Returns:
            `StepBatch` of Q rows.
        """
        lengths = np.fromiter((len(s) for s in sessions), np.int64, len(sessions))
        context, u = self._run(contexts, finished, gaps, sessions)
        rows = np.arange(len(sessions))
        return StepBatch(context, u[rows, lengths], u[rows, np.maximum(lengths - 1, 0)], lengths)

    def many_at(self, contexts, finished, gaps, sessions, positions):
        """Like `many`, with the embeddings at any positions of each user's open session.

        Several events of one user within one session are one row: the low level is causal, so
        the embeddings after each of them are positions of the same call over the session as
        it stands after the last one (`OnlineRecommender.observe_batch`).

        Args:
            contexts, finished, gaps, sessions: as for `many`.
            positions: Q int sequences: for user q, positions `0..len(sessions[q])` to return
                (position p = after the session's first p items).

        Returns:
            `(context float32 [Q, H], embeddings)`: `embeddings[q]` is float32 `[len(positions[q]), E]`.
        """
        check_positions(positions, sessions)
        context, u = self._run(contexts, finished, gaps, sessions)
        return context, [u[q, np.asarray(p, np.int64)] for q, p in enumerate(positions)]

    def _run(self, contexts, finished, gaps, sessions):
        """The compiled calls for Q users: `(context [Q, H], u [Q, T, E])` over the longest bucket T."""
        L, H = self.max_session_len, self.state_size
        q = len(sessions)
        contexts = check_inputs(L, H, contexts, finished, gaps, sessions)
        lengths = np.fromiter((len(s) for s in sessions), np.int64, q)
        steps = next(b for b in self.buckets if b >= int(lengths.max(initial=0)) + 1)
        largest = self.batch_sizes[-1]
        new_contexts, outputs = [], []
        for start in range(0, q, largest):
            stop = min(q, start + largest)
            rows = next(b for b in self.batch_sizes if b >= stop - start)
            ints = np.zeros((rows, steps + L), np.int32)
            floats = np.zeros((rows, H + 2), np.float32)
            floats[:, H + 1] = 1.0
            floats[: stop - start, :H] = contexts[start:stop]
            for row, user in enumerate(range(start, stop)):
                ints[row, 1 : lengths[user] + 1] = sessions[user]
                if finished[user] is not None:
                    ints[row, steps : steps + len(finished[user])] = finished[user]
                    floats[row, H] = 1.0
                    floats[row, H + 1] = decay_factor(self.config, gaps[user])
            context, u = self._call(steps, rows)(ints, floats)
            n = stop - start
            new_contexts.append(np.asarray(context, np.float32)[:n])
            outputs.append(np.asarray(u, np.float32)[:n])
        if not q:
            return np.zeros((0, H), np.float32), np.zeros((0, steps, self.online.output_dim), np.float32)
        return np.concatenate(new_contexts), np.concatenate(outputs)


class ReferenceStep:
    """`UserStep`'s contract through `OnlineModel.fold` and `OnlineModel.embed` (two calls per user, full width)."""

    compiled = False

    def __init__(self, online):
        self.online = online
        self.config = online.config

    def __call__(self, context, finished, gap, session):
        context = np.asarray(context, np.float32)
        if finished is not None:
            context = self.online.fold(context, [list(finished)], [gap if gap is not None else 0.0])[0]
        u = self.online.embed(context, [list(session)])[0]
        m = len(session)
        return StepResult(context, u[m], u[m - 1] if m else None)

    def many_at(self, contexts, finished, gaps, sessions, positions):
        """`UserStep.many_at`, one user at a time over the full width."""
        out_contexts, embeddings = [], []
        H = self.online.state_size
        for c, f, g, s, p in zip(np.asarray(contexts, np.float32).reshape(-1, H), finished, gaps, sessions,
                                 positions):
            c = np.asarray(c, np.float32)
            if f is not None:
                c = self.online.fold(c, [list(f)], [g if g is not None else 0.0])[0]
            u = self.online.embed(c, [list(s)])[0]
            out_contexts.append(c)
            embeddings.append(np.asarray(u, np.float32)[np.asarray(p, np.int64)])
        return np.stack(out_contexts) if out_contexts else np.zeros((0, H), np.float32), embeddings

    def many(self, contexts, finished, gaps, sessions):
        """One user at a time (the path before batching), as a `StepBatch`."""
        check_lengths(self.online.max_session_len, finished, sessions)
        H, E = self.online.state_size, self.online.output_dim
        out = [self(c, f, g, s) for c, f, g, s in zip(np.asarray(contexts, np.float32).reshape(-1, H),
                                                      finished, gaps, sessions)]
        lengths = np.array([len(s) for s in sessions], np.int64)
        if not out:
            return StepBatch(np.zeros((0, H), np.float32), np.zeros((0, E), np.float32),
                             np.zeros((0, E), np.float32), lengths)
        return StepBatch(np.stack([o.context for o in out]), np.stack([o.embedding for o in out]),
                         np.stack([o.prior_embedding if o.prior_embedding is not None else o.embedding
                                   for o in out]), lengths)
