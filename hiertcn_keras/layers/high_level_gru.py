"""The high level of HierTCN: a GRU that steps once per session (the user's long-term interest).

Shape legend: B batch rows (queues), S session slots per row, F session-vector dim,
H = sum(units) the state dim (the stacked GRU layers' states concatenated, in `units` order).

What happens at session slot i of a row, in this order (the heart of HierTCN):

1. `user_start[i]`: a new user starts here, so the state is zeroed, exactly at this slot and
   not one slot late (the Hidasi & Czapp audit lists "reset a step late" as a classic bug).
   The flag is obeyed at padded slots too: it marks a boundary between users.
2. With `decay_bandwidth`, a real session (`session_mask[i]`) that continues a user decays
   the state: `state ← state · exp(−gap[i] / bandwidth)`.
3. `context[i]` = the state now, i.e. BEFORE session i: session i is predicted from the
   user's earlier sessions only and never sees its own items through the high level.
4. The stacked GRU cells read `session_vectors[i]`, only where `session_mask[i]`: a padded
   slot leaves the state unchanged. Step 4 without the mask is the public `step(state,
   session_summary)`, which online serving calls to fold a finished session into a user's state.

Worked example, one row, 3 slots, user_start = [1, 0, 1], mask = [1, 1, 1], vectors a, b, c:
context = [0, g(0, a), 0] and final = g(0, c), where g(h, x) is one GRU step.

The state is carried from batch to batch (queue-based mini-batches, a user's sessions may
straddle batches) with `stateful=True`: the final state lands in a non-trainable variable
`[batch_size, H]` that the next call starts from; `reset_state()` zeroes it. As in Keras'
stateful RNNs, the variable is assigned inside `call`, which works under
`jit_compile=True` on TensorFlow and JAX (the trainers carry non-trainable variables).
Under a `tf.distribute` strategy each replica keeps its own rows' state (`[B / N, H]`, see
`hiertcn_keras/training/distribute.py`). No gradient flows through the carried state across
batches (truncated back-propagation, as in the official code, which fed the state back
through placeholders).

The GRU cells are `keras.layers.GRUCell`s with `reset_after=False` (the TF1 convention of the
official code) and gate biases (update z, reset r) initialised to 1.0, candidate bias 0.
With S ≈ 10 the loop over slots is a Python loop over the static S axis, so XLA and JAX see
a straight-line graph. `keras.ops.scan` is not an option for training on TensorFlow: its
while loop with TensorArrays fails to compile under `jit_compile=True` once gradients flow
through it (measured with Keras 3.15 / TF 2.21; on JAX it trains, with per-step times within
noise of the loop). A dynamic S (a TF graph traced with an unknown number of slots) still
falls back to `scan`, with the same step function and numbers (tested).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hiertcn")
class GateBias(keras.initializers.Initializer):
    """Bias of a `reset_after=False` GRU cell: gates (z, r) one value, candidate another.

    Keras' GRU bias `[3u]` is laid out as `[z | r | h]` (update, reset, candidate).

    Args:
        gate_value: float. Initial bias of the update and reset gates. Defaults to `1.0`
            (TF1's `GRUCell`, the official code).
        candidate_value: float. Initial bias of the candidate. Defaults to `0.0`.
    """

    def __init__(self, gate_value=1.0, candidate_value=0.0):
        self.gate_value = float(gate_value)
        self.candidate_value = float(candidate_value)

    def __call__(self, shape, dtype=None):
        if len(shape) != 1 or shape[0] % 3:
            raise ValueError(f"GateBias expects a bias shape (3·units,), got {shape}")
        units = shape[0] // 3
        dtype = keras.backend.standardize_dtype(dtype or keras.backend.floatx())
        return ops.concatenate(
            [
                ops.full((2 * units,), self.gate_value, dtype=dtype),
                ops.full((units,), self.candidate_value, dtype=dtype),
            ]
        )

    def get_config(self):
        return {"gate_value": self.gate_value, "candidate_value": self.candidate_value}


@keras.saving.register_keras_serializable(package="hiertcn")
class HighLevelGRU(keras.layers.Layer):
    """Stacked GRU over session slots, with user resets, padding, decay and carried state.

    Args:
        units: int or sequence of ints. Units of each stacked GRU layer. Defaults to
            `(128, 128)` (the official code); H = `sum(units)`.
        decay_bandwidth: float > 0 or `None`. Bandwidth in seconds of the optional state
            decay `exp(−gap / bandwidth)`; `None` disables it (the `gap` argument is then
            ignored). Defaults to `None`.
        stateful: bool. Carry the final state of each call into the next one (rows are
            queues). Defaults to `False`.
        batch_size: int. Rows of every batch; required with `stateful=True`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        session_vectors: float tensor `[B, S, F]`, AGG(session) of every slot.
        user_start: bool tensor `[B, S]`, true where a user's first session sits. `None`
            means no user starts inside this call.
        session_mask: bool tensor `[B, S]`, true at real sessions, false at padded slots.
            `None` means all slots are real.
        gap: float tensor `[B, S]`, seconds between the previous session and this one.
            Required when `decay_bandwidth` is set; ignored otherwise. Read only at real
            sessions that continue a user (anything, even NaN, may sit elsewhere); negative
            gaps count as 0.
        initial_state: float tensor `[B, H]`, the state before slot 0. `None` means the
            carried state (`stateful=True`) or zeros.
        training: bool. Passed to the GRU cells.

    Returns:
        A tuple `(context, final_state)`: `context` `[B, S, H]` is the state before each
        session; `final_state` `[B, H]` the state after the last slot.

    Example:

    >>> gru = HighLevelGRU(units=(8, 8))
    >>> x = np.random.rand(2, 10, 16).astype("float32")
    >>> starts = np.zeros((2, 10), bool); starts[:, 0] = True
    >>> context, final = gru(x, starts)
    >>> context.shape, final.shape
    ((2, 10, 16), (2, 16))
    """

    def __init__(
        self,
        units=(128, 128),
        decay_bandwidth=None,
        stateful=False,
        batch_size=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = (units,) if isinstance(units, int) else tuple(units)
        if not units or any(
            isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in units
        ):
            raise ValueError(f"units must be ints ≥ 1 (at least one), got {units!r}")
        if decay_bandwidth is not None and not decay_bandwidth > 0:
            raise ValueError(
                f"decay_bandwidth must be > 0 seconds or None, got {decay_bandwidth!r}"
            )
        if stateful and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or batch_size < 1
        ):
            raise ValueError(
                f"stateful=True needs batch_size, an int ≥ 1, got {batch_size!r}"
            )
        self.units = units
        self.decay_bandwidth = (
            None if decay_bandwidth is None else float(decay_bandwidth)
        )
        self.stateful = bool(stateful)
        self.batch_size = batch_size
        self.state_size = sum(units)
        self.cells = [
            keras.layers.GRUCell(
                u,
                reset_after=False,
                bias_initializer=GateBias(1.0, 0.0),
                dtype=self.dtype_policy,
                name=f"gru_cell_{i}",
            )
            for i, u in enumerate(units)
        ]
        self.state = None

    def build(self, session_vectors_shape):
        if len(session_vectors_shape) != 3 or session_vectors_shape[-1] is None:
            raise ValueError(
                "HighLevelGRU expects session_vectors [B, S, F] with a known F, "
                f"got shape {session_vectors_shape}"
            )
        batch = session_vectors_shape[0]
        if self.stateful and batch is not None and batch != self.batch_size:
            raise ValueError(
                f"HighLevelGRU(stateful=True, batch_size={self.batch_size}) built for "
                f"batches of {batch} rows: feed exactly batch_size rows"
            )
        width = session_vectors_shape[-1]
        for cell, units in zip(self.cells, self.units):
            if not cell.built:
                cell.build((None, width))
            width = units
        if self.stateful:
            self.state = self.add_weight(
                shape=(self.batch_size, self.state_size),
                initializer="zeros",
                trainable=False,
                # Marks a per-row carried state: under a tf.distribute strategy every replica
                # keeps its own rows' copy (hiertcn_keras/training/distribute.py); no effect
                # without a strategy.
                aggregation="only_first_replica",
                name="state",
            )

    def reset_state(self):
        """Zeroes the carried state (`stateful=True`); a no-op otherwise."""
        if self.state is not None:
            self.state.assign(ops.zeros_like(self.state.value))

    def step(self, state, session_summary, training=None):
        """One high-level step: the stacked GRU cells read one session's summary.

        No reset, decay or mask: the caller has applied them (`call` does, slot by slot).

        Args:
            state: float tensor `[B, H]`, the state before the session (the layers' states
                concatenated in `units` order).
            session_summary: float tensor `[B, F]`, AGG(session) after its input projection.
            training: bool. Passed to the GRU cells.

        Returns:
            float tensor `[B, H]`, the state after the session.
        """
        layer_input = session_summary
        new_states = []
        offset = 0
        for cell, units in zip(self.cells, self.units):
            h = state[:, offset : offset + units]
            offset += units
            layer_input, _ = cell(layer_input, [h], training=training)
            new_states.append(layer_input)
        return ops.concatenate(new_states, axis=-1) if len(new_states) > 1 else new_states[0]

    def _step(self, state, slot, training):
        """One session slot. `state` `[B, H]` → (new state `[B, H]`, context `[B, H]`)."""
        vector, start, decay, valid = slot
        if self.decay_bandwidth is not None:
            state = state * ops.expand_dims(decay, -1)  # step 2 (decay is 1 where it must not)
        state = ops.where(ops.expand_dims(start, -1), ops.zeros_like(state), state)  # step 1
        context = state  # step 3: the state before the session
        new_state = self.step(state, vector, training=training)
        # Step 4: padded slots keep their state.
        state = ops.where(ops.expand_dims(valid, -1), new_state, state)
        return state, context

    def call(
        self,
        session_vectors,
        user_start=None,
        session_mask=None,
        gap=None,
        initial_state=None,
        training=None,
    ):
        x = ops.convert_to_tensor(session_vectors, dtype=self.compute_dtype)
        dtype = x.dtype
        slots = x.shape[1]
        batch = ops.shape(x)[0]
        if self.decay_bandwidth is not None and gap is None:
            raise ValueError(
                f"HighLevelGRU(decay_bandwidth={self.decay_bandwidth}) needs `gap` "
                "[B, S] in seconds, got None"
            )

        if initial_state is None:
            if self.stateful:
                if x.shape[0] is not None and x.shape[0] != self.batch_size:
                    raise ValueError(
                        f"HighLevelGRU(stateful=True, batch_size={self.batch_size}) got a "
                        f"batch of {x.shape[0]} rows: feed exactly batch_size rows"
                    )
                initial_state = ops.cast(self.state, dtype)
                if keras.backend.backend() == "torch":
                    # The variable is updated in place below; autograd needs its own copy.
                    initial_state = ops.copy(initial_state)
            else:
                initial_state = ops.zeros((batch, self.state_size), dtype=dtype)
        state = ops.cast(initial_state, dtype)

        slot_shape = ops.shape(x)[:2]
        if user_start is None:
            start = ops.zeros(slot_shape, dtype="bool")
        else:
            start = ops.cast(user_start, "bool")
        if session_mask is None:
            valid = ops.ones(slot_shape, dtype="bool")
        else:
            valid = ops.cast(session_mask, "bool")

        # The decay factor of every slot: exp(-gap / bandwidth) at a real session, 1 at a
        # padded slot (it does not decay); at a user start the reset zeroes the state anyway.
        if self.decay_bandwidth is None:
            decay = ops.ones(slot_shape, dtype=dtype)
        else:
            gap = ops.maximum(ops.cast(gap, dtype), ops.zeros((), dtype=dtype))
            factor = ops.exp(-gap / self.decay_bandwidth)
            decays = ops.logical_and(valid, ops.logical_not(start))
            decay = ops.where(decays, factor, ops.ones_like(factor))

        if slots is not None:
            contexts = []
            for i in range(slots):
                slot = (x[:, i], start[:, i], decay[:, i], valid[:, i])
                state, context = self._step(state, slot, training)
                contexts.append(context)
            context = ops.stack(contexts, axis=1)
        else:
            # Keras' TF `scan` fails on several `xs` of unknown length (it checks their
            # lengths against each other with a method of TF1 dimensions), so the slots
            # travel as ONE time-major tensor [S, B, F + 3] and are split in the step.
            packed = ops.concatenate(
                [
                    x,
                    ops.cast(ops.stack([start, valid], axis=-1), dtype),
                    ops.expand_dims(decay, -1),
                ],
                axis=-1,
            )

            def scan_step(h, slot):
                vector, flags, factor = slot[:, :-3], slot[:, -3:-1], slot[:, -1]
                return self._step(
                    h, (vector, flags[:, 0] > 0, factor, flags[:, 1] > 0), training
                )

            state, contexts = ops.scan(scan_step, state, ops.transpose(packed, (1, 0, 2)))
            context = ops.transpose(contexts, (1, 0, 2))

        if self.stateful:
            self.state.assign(ops.cast(state, self.state.dtype))
        return context, state

    def compute_output_shape(self, session_vectors_shape):
        batch, slots = session_vectors_shape[0], session_vectors_shape[1]
        return (batch, slots, self.state_size), (batch, self.state_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": list(self.units),
                "decay_bandwidth": self.decay_bandwidth,
                "stateful": self.stateful,
                "batch_size": self.batch_size,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="hiertcn", name="SessionGRU")
class SessionGRU(HighLevelGRU):
    """`HighLevelGRU` as `.keras` files saved before its rename know it (`hiertcn>SessionGRU`).

    Only for loading those files: Keras finds a layer's weights in a `.keras` file under its
    class name in snake case (`session_gru/...`), so the old files load into this subclass of
    the same name, which computes exactly what `HighLevelGRU` does. New models never use it
    (tests/models/test_hiertcn.py loads such a file).
    """
