"""One user's update for one event, as a single compiled call with fixed shapes.

Shape legend: L steps per session (`max_session_len`), H high-level state size, E user-embedding
size, T input steps of a bucket (2 ≤ T ≤ L + 1).

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
- inputs are packed into one int32 and one float32 tensor (each conversion costs a few µs).

On the TensorFlow backend every bucket is a `tf.function` with a fixed `input_signature`,
compiled with XLA (`jit_compile`), traced at construction (the first event does not pay for
it) and then called as a concrete function, which skips the polymorphic dispatch. On the other
backends the same Keras graph is called directly. `compiled=False` calls it eagerly on every
backend (the reference the tests compare the compiled step against, to 1e-5).

`ReferenceStep` is the same contract computed with `OnlineModel.embed` and `OnlineModel.fold`
(full width, two calls): the path before this module, kept as a reference and as the
benchmarks' "before".
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


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


def _tf_concrete(graph, n_ints, n_floats, jit_compile):
    """The graph as a concrete `tf.function` of `[1, n_ints]` int32, `[1, n_floats]` float32.

    The traced function takes exactly the two signature arguments: a concrete function whose
    Python signature does not bind (an extra defaulted parameter) falls back to a slow path that
    formats its arguments as text on every call (measured: milliseconds per call).
    """
    import tensorflow as tf  # the compiler of the default backend

    def step(ints, floats):
        return graph([ints, floats], training=False)

    concrete = tf.function(step, input_signature=[tf.TensorSpec([1, n_ints], tf.int32),
                                                  tf.TensorSpec([1, n_floats], tf.float32)],
                           jit_compile=bool(jit_compile)).get_concrete_function()

    def call(ints, floats):
        return [x.numpy() for x in concrete(tf.constant(ints), tf.constant(floats))]

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


class UserStep:
    """The fused fold + low-level update of one user, compiled once per bucket of session length.

    Args:
        online: `OnlineModel`.
        compiled: bool. Trace and compile (TensorFlow: XLA) the buckets now; `False` calls the
            Keras graph eagerly. Defaults to `True`.
        jit_compile: bool. TensorFlow only: XLA for the traced functions. Defaults to `True`.

    Example:

    >>> step = UserStep(OnlineModel(recommender))                       # doctest: +SKIP
    >>> out = step(context, finished=[3, 7], gap=5400.0, session=[9])
    >>> out.embedding.shape                                             # ranks the next item
    (128,)
    """

    def __init__(self, online, *, compiled=True, jit_compile=True):
        self.online = online
        self.config = online.config
        self.max_session_len = L = online.max_session_len
        self.state_size = H = online.state_size
        self.buckets = _buckets(L)
        self._graphs = {steps: self._graph(steps) for steps in self.buckets}
        self.compiled = bool(compiled)
        self._calls = {}
        for steps, graph in self._graphs.items():
            if compiled and keras.backend.backend() == "tensorflow":
                self._calls[steps] = _tf_concrete(graph, steps + L, H + 2, jit_compile)
            else:
                self._calls[steps] = _eager(graph)
        for steps in self.buckets:  # compile now, not on the first user's event
            self._calls[steps](np.zeros((1, steps + L), np.int32), np.zeros((1, H + 2), np.float32))

    def _graph(self, steps):
        """`[ints [1, T + L], floats [1, H + 2]]` → `[context [1, H], u [1, T, E]]`.

        `ints` = the T low-level inputs `[x̂, a1..am, 0…]` then the finished session's L items;
        `floats` = the stored context, the fold flag (1 = fold) and the decay factor.
        """
        L, H = self.max_session_len, self.state_size
        ints = keras.Input((steps + L,), dtype="int32", name="ints", batch_size=1)
        floats = keras.Input((H + 2,), dtype="float32", name="floats", batch_size=1)
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
        L, H = self.max_session_len, self.state_size
        m = len(session)
        if m > L or (finished is not None and len(finished) > L):
            raise ValueError(f"a session holds at most L = {L} items, got {max(m, len(finished or ()))}")
        steps = next(b for b in self.buckets if b >= m + 1)
        ints = np.zeros((1, steps + L), np.int32)
        ints[0, 1 : m + 1] = session
        floats = np.empty((1, H + 2), np.float32)
        floats[0, :H] = context
        if finished is not None:
            ints[0, steps : steps + len(finished)] = finished
            floats[0, H] = 1.0
            floats[0, H + 1] = decay_factor(self.config, gap)
        else:
            floats[0, H] = 0.0
            floats[0, H + 1] = 1.0
        new_context, u = self._calls[steps](ints, floats)
        u = np.asarray(u, np.float32)[0]
        return StepResult(np.asarray(new_context, np.float32)[0], u[m], u[m - 1] if m else None)


class ReferenceStep:
    """`UserStep`'s contract through `OnlineModel.fold` and `OnlineModel.embed` (two calls, full width)."""

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
