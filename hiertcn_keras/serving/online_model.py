"""The trained hierarchical model split into its two online steps, sharing the trained weights.

Shape legend: L steps per session (`max_session_len`), D item dim, H high-level state size,
E user-embedding size, Q queries (users) computed together.

Offline, HierTCN reads a user's whole history as `[S, L]` session slots
(docs/concepts.md#queue-based-mini-batches). Online the same numbers come from two functions of the
stored high-level state `c` (the *context* of the user's open session, i.e. the state before it,
already decayed):

- `embed(c, session)`: the low level over the open session's items `a1..am` (m ≤ L): inputs
  `[x̂, a1..am]` (x̂ = 0), the state tiled over the steps, projection, the causal session TCN
  (or HierGRU's session GRU) and the output Dense. Step j's output is the user embedding that
  predicts item `a(j+1)`: step m−1 is the embedding that scored `am` (offline `u` of that
  event), step m the one that ranks the next item. The inputs are padded to L + 1 steps; the
  low level is causal, so the padding never changes an earlier step.
- `fold(c, session, gap)`: when the next session starts, one high-level step: AGG = mean item
  embedding → `session_input` Dense → the stacked GRU cells from `c`, then the decay
  `exp(−gap / bandwidth)` of the model's optional state decay. The result is the new
  session's context, exactly what `HighLevelGRU` computes before the next slot.

Both are functional Keras models built by the model's own online steps
(`hiertcn_keras.models.hiertcn.HierarchicalSteps`, on the loaded layers: no weight copies).
Per event they run on one row, where call overhead, not arithmetic, is the cost: on the
TensorFlow backend they are wrapped in one XLA-compiled `tf.function` each (measured on this
2-core machine: ~1.2 ms per call against ~11 ms through `Model.predict_on_batch`, whose data
handling dominates a one-row batch); on the other backends they are called directly. Only HierTCN and
HierGRU have this two-level structure; HRNN (session GRU started from the user state) and the
flat models are refused with a clear error.
"""

from __future__ import annotations

import threading

import keras
import numpy as np

from hiertcn_keras.models.hiertcn import HierarchicalSteps

SUPPORTED_MODELS = ("hiertcn", "hiergru")


def _compiled(model):
    """A fast callable for `model(inputs)` with NumPy inputs, returning a NumPy array."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the one backend-specific line of serving: its compiler

        function = tf.function(lambda inputs: model(inputs, training=False), jit_compile=True,
                               reduce_retracing=True)
        return lambda inputs: function(inputs).numpy()
    return lambda inputs: keras.ops.convert_to_numpy(model(inputs, training=False))


class OnlineModel:
    """The low-level embedding and the high-level fold of a trained `Recommender`.

    Args:
        recommender: a loaded `hiertcn_keras.models.recommender.Recommender` whose
            `model_config.model` is `hiertcn` or `hiergru`.
        warm: bool. Compile `embed` and `fold` now (else on first use). Defaults to `True`.

    Attributes:
        state_size: int. H.
        max_session_len: int. L.
        output_dim: int. E.

    Example:

    >>> online = OnlineModel(recommender)                               # doctest: +SKIP
    >>> c = np.zeros((1, online.state_size), "float32")
    >>> u = online.embed(c, [[3, 7]])         # [1, L + 1, E]; u[:, 2] ranks the next item
    >>> c = online.fold(c, [[3, 7]], gap=[5400.0])
    """

    def __init__(self, recommender, *, warm=True):
        config = recommender.model_config
        if config.model not in SUPPORTED_MODELS:
            raise ValueError(
                f"online serving needs a hierarchical model with a separate high level, one of "
                f"{SUPPORTED_MODELS}; this run is {config.model!r}"
            )
        self.config = config
        self.max_session_len = int(config.max_session_len)
        self._steps = HierarchicalSteps(recommender.user_model, config.model)
        self.state_size = self._steps.state_size
        self.output_dim = self._steps.output_dim
        self._low_model = self._build_low_model()
        self._fold_model = self._build_fold_model()
        self._low = _compiled(self._low_model)
        self._fold = _compiled(self._fold_model)
        # The functions trace on first use; tracing from two threads at once races.
        self._lock = threading.Lock()
        if warm:  # trace and compile now, not on the first user's event
            zeros = np.zeros((1, self.state_size), np.float32)
            self.embed(zeros, [[]])
            self.fold(zeros, [[]], [0.0])

    def _build_low_model(self, steps=None):
        steps = self.max_session_len + 1 if steps is None else int(steps)
        inputs = keras.Input((steps,), dtype="int32", name="inputs")
        context = keras.Input((self.state_size,), dtype="float32", name="context")
        u = self._steps.low_level(inputs, context)
        return keras.Model([inputs, context], u, name="online_low_level")

    def _build_fold_model(self):
        L = self.max_session_len
        items = keras.Input((L,), dtype="int32", name="items")
        context = keras.Input((self.state_size,), dtype="float32", name="context")
        decay = keras.Input((1,), dtype="float32", name="decay")
        state = self._steps.fold(context, items, decay)
        return keras.Model([items, context, decay], state, name="online_fold")

    def low_level_model(self, steps):
        """The low level as a functional model over `steps` input steps `[x̂, a1..]` (≤ L + 1).

        The low level is causal, so on the first `steps` inputs it gives the same embeddings as
        on all L + 1 (`embed`); `user_step` compiles it for a few step counts.

        Returns:
            `keras.Model` mapping `[inputs int32 [Q, steps], context [Q, H]]` to `[Q, steps, E]`.
        """
        return self._build_low_model(steps)

    @property
    def steps(self):
        """The model's `HierarchicalSteps`: its layers, for steps computed outside Keras (`numpy_step`)."""
        return self._steps

    @property
    def fold_model(self):
        """The high-level fold as a functional model: `[items [Q, L], context [Q, H], decay [Q, 1]]` → `[Q, H]`."""
        return self._fold_model

    def session_inputs(self, sessions):
        """Pad sessions of item indices to the low level's `[Q, L + 1]` inputs `[x̂, a1..am, 0…]`."""
        out = np.zeros((len(sessions), self.max_session_len + 1), dtype=np.int32)
        for row, items in enumerate(sessions):
            items = np.asarray(items, dtype=np.int32)
            if len(items) > self.max_session_len:
                raise ValueError(f"a session holds at most L = {self.max_session_len} items, got {len(items)}")
            out[row, 1 : len(items) + 1] = items
        return out

    def embed(self, context, sessions):
        """User embeddings at every step of the open sessions.

        Args:
            context: float array `[Q, H]`, each user's stored state.
            sessions: Q sequences of item indices (each ≤ L).

        Returns:
            float32 `[Q, L + 1, E]`; `[q, m]` (m = the session's length) ranks the next item.
        """
        context = np.asarray(context, dtype=np.float32).reshape(-1, self.state_size)
        inputs = self.session_inputs(sessions)
        with self._lock:
            return np.asarray(self._low([inputs, context]), dtype=np.float32)

    def fold(self, context, sessions, gap=None):
        """One high-level step per user: the context of the next session.

        Args:
            context: float array `[Q, H]`, the state before the finished sessions.
            sessions: Q non-empty sequences of item indices (each ≤ L), the finished sessions.
            gap: float array `[Q]` or `None`: seconds from each finished session's last event
                to the new session's first. Read only when the model decays its state.

        Returns:
            float32 `[Q, H]`.
        """
        context = np.asarray(context, dtype=np.float32).reshape(-1, self.state_size)
        items = self.session_inputs(sessions)[:, 1:]
        decay = np.ones((len(items), 1), dtype=np.float32)
        bandwidth = self.config.decay_bandwidth
        if bandwidth is not None:
            if gap is None:
                raise ValueError(f"this model decays its state (decay_bandwidth={bandwidth}); fold needs `gap`")
            gap = np.maximum(np.asarray(gap, dtype=np.float32).reshape(-1), 0.0)
            decay[:, 0] = np.exp(-gap / np.float32(bandwidth))
        with self._lock:
            return np.asarray(self._fold([items, context, decay]), dtype=np.float32)
