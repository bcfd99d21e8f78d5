"""`SessionParallelGRU`: GRU4Rec's session-parallel GRU, its state zeroed at every session start.

GRU4Rec (Hidasi et al. 2016) trains on B parallel sessions: each batch row is a lane of
sessions laid end to end (`hiertcn_keras.data.packing`), and where one session ends the next
one takes its lane with the hidden state reset to zero. Here a batch holds T steps of every
lane; the state is carried from batch to batch in a variable per layer (as `CarriedGRU` does)
and zeroed at exactly the steps flagged by `segment_start`, in the middle of a batch as well
as at its first step. Each GRU reads the flag as one extra input feature
(`ResettingGRUCell`), so the reset happens inside the recurrence, before the step.

Shape legend: B batch rows (lanes), T steps, F input features.
"""

from __future__ import annotations

import keras
from keras import ops

from hiertcn_keras.layers.carried_gru import CarriedGRU


@keras.saving.register_keras_serializable(package="hiertcn")
class ResettingGRUCell(keras.layers.GRUCell):
    """A `GRUCell` whose last input feature is a keep flag: 0 zeroes the state before the step.

    Args:
        units: int. As `keras.layers.GRUCell` (all its arguments are accepted).

    Call arguments:
        inputs: float tensor `[B, F + 1]`: the features, then 1.0 (carry the state) or 0.0
            (a new session starts here).
        states: list of one float tensor `[B, units]`.

    Returns:
        `(h [B, units], [h])`.
    """

    def build(self, input_shape):
        super().build((*input_shape[:-1], input_shape[-1] - 1))

    def call(self, inputs, states, training=False):
        state = states[0] if isinstance(states, (list, tuple)) else states
        keep = inputs[..., -1:]
        return super().call(inputs[..., :-1], [state * keep], training=training)


@keras.saving.register_keras_serializable(package="hiertcn")
class SessionParallelGRU(CarriedGRU):
    """Stacked GRU over session-parallel lanes: state carried across calls, reset per step.

    Args:
        units: sequence of ints. Units of each stacked GRU. Defaults to `(100,)` (GRU4Rec's
            default: one layer of 100).
        batch_size: int. B; every call must feed exactly B rows.
        dropout: float. Dropout on each layer's inputs (element-wise, every step; the reset
            flag is never dropped). Defaults to 0.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: float tensor `[B, T, F]`.
        segment_start: bool tensor `[B, T]`: a new session starts at this step (the state is
            zeroed before it).
        mask: bool tensor `[B, T]` or `None`: real steps (padding only at the end of a lane).

    Returns:
        Float tensor `[B, T, units[-1]]`, the last layer's output at every step.
    """

    _flag_features = 1

    def __init__(self, units=(100,), batch_size=32, dropout=0.0, **kwargs):
        super().__init__(units, batch_size=batch_size, dropout=dropout, **kwargs)
        self.input_dropouts = [keras.layers.Dropout(self.dropout, name=f"dropout_{k}") for k in range(len(self.units))]

    def _make_rnn(self, k, units):
        # The cell's own dropout would also drop the flag: inputs are dropped before it instead.
        cell = ResettingGRUCell(units, reset_after=False, name=f"cell_{k}")
        return keras.layers.RNN(cell, return_sequences=True, return_state=True, name=f"gru_{k}")

    def _rnn_inputs(self, k, x, step_flags, training):
        if self.dropout:
            x = self.input_dropouts[k](x, training=training)
        return super()._rnn_inputs(k, x, step_flags, training)

    def build(self, inputs_shape, segment_start_shape=None, mask_shape=None):
        super().build(inputs_shape)

    def call(self, inputs, segment_start, mask=None, training=None):
        keep = 1.0 - ops.expand_dims(ops.cast(segment_start, self.compute_dtype), -1)
        return self._run(inputs, ops.ones_like(keep[:, 0]), keep, mask, training)

    def compute_output_shape(self, inputs_shape, segment_start_shape=None, mask_shape=None):
        return (*inputs_shape[:-1], self.units[-1])
