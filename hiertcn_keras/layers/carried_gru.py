"""`CarriedGRU`: a stacked GRU over flat histories whose state survives from batch to batch.

The flat GRU baseline reads a user's whole history in chunks of T events (`FlatTable`); a
history longer than T continues in the next batch in the same row. The state of every row is
therefore kept in a non-trainable variable `[B, units]` per layer (like Keras' stateful RNNs)
and zeroed, per row, where `user_start` says a new user begins — exactly there, never a step
late. Keras' own `stateful=True` can only reset all rows at once, hence this layer.

Shape legend: B batch rows, T steps, F input features.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hiertcn")
class CarriedGRU(keras.layers.Layer):
    """Stacked GRU with per-row resets and state carried across calls.

    Args:
        units: sequence of ints. Units of each stacked GRU layer. Defaults to `(200, 200)`
            (the official flat GRU baseline).
        batch_size: int. B; every call must feed exactly B rows.
        dropout: float. Dropout on each layer's inputs. Defaults to 0.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: float tensor `[B, T, F]`.
        user_start: bool tensor `[B]`: the row starts a new user here (state zeroed first).
        mask: bool tensor `[B, T]` or `None`: real steps (padding only at the end of a row).

    Returns:
        Float tensor `[B, T, units[-1]]`, the last layer's output at every step.
    """

    def __init__(self, units=(200, 200), batch_size=32, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        if not self.units or min(self.units) < 1:
            raise ValueError(f"units must be positive ints, got {units}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.dropout = float(dropout)
        self.grus = [self._make_rnn(k, u) for k, u in enumerate(self.units)]

    # Extra input features each RNN reads besides the previous layer's output (a subclass's flags).
    _flag_features = 0

    def _make_rnn(self, k, units):
        """The k-th stacked RNN layer (returning all steps and its final state)."""
        return keras.layers.GRU(
            units, return_sequences=True, return_state=True, reset_after=False, dropout=self.dropout,
            name=f"gru_{k}",
        )

    def build(self, inputs_shape, user_start_shape=None, mask_shape=None):
        features = inputs_shape[-1]
        for gru, units in zip(self.grus, self.units):
            if not gru.built:
                gru.build((self.batch_size, inputs_shape[1], features + self._flag_features))
            features = units
        self.states = [
            self.add_weight(
                shape=(self.batch_size, u), initializer="zeros", trainable=False, name=f"state_{k}",
                # A per-row carried state: per replica under a tf.distribute strategy
                # (hiertcn_keras/training/distribute.py); no effect without a strategy.
                aggregation="only_first_replica",
            )
            for k, u in enumerate(self.units)
        ]

    def reset_state(self):
        for state in self.states:
            state.assign(ops.zeros_like(state.value))

    def _run(self, x, keep, step_flags, mask, training):
        """Every layer from its carried state (times `keep`), `step_flags` appended to its inputs."""
        for k, (gru, state) in enumerate(zip(self.grus, self.states)):
            initial = ops.cast(state, self.compute_dtype) * keep
            if keras.backend.backend() == "torch":
                initial = ops.copy(initial)
            rnn_inputs = self._rnn_inputs(k, x, step_flags, training)
            x, final = gru(rnn_inputs, initial_state=[initial], mask=mask, training=training)
            state.assign(ops.cast(final, state.dtype))
        return x

    def _rnn_inputs(self, k, x, step_flags, training):
        """What the k-th RNN reads: `x`, with the per-step flags appended (if any)."""
        return x if step_flags is None else ops.concatenate([x, step_flags], axis=-1)

    def call(self, inputs, user_start, mask=None, training=None):
        keep = 1.0 - ops.expand_dims(ops.cast(user_start, self.compute_dtype), -1)
        return self._run(inputs, keep, None, mask, training)

    def compute_output_shape(self, inputs_shape, user_start_shape=None, mask_shape=None):
        return (*inputs_shape[:-1], self.units[-1])

    def get_config(self):
        config = super().get_config()
        config.update(units=list(self.units), batch_size=self.batch_size, dropout=self.dropout)
        return config
