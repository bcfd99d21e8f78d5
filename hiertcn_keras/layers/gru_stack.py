"""`GRUStack`: stacked GRUs returning every step: HierGRU's session GRU, its low level.

The session GRU runs inside a session, over its items (the GRU over sessions is
`high_level_gru.HighLevelGRU`).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="hiertcn")
class GRUStack(keras.layers.Layer):
    """Stacked `keras.layers.GRU`s (TF1 convention, `reset_after=False`), all steps returned.

    Args:
        units: sequence of ints. Defaults to `(128, 128)` (the official HierGRU).
        dropout: float. Defaults to 0.
        **kwargs: base `Layer` arguments.

    Call arguments:
        inputs: float tensor `[N, L, F]`.

    Returns:
        Float tensor `[N, L, units[-1]]`.
    """

    def __init__(self, units=(128, 128), dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        self.dropout = float(dropout)
        self.grus = [
            keras.layers.GRU(u, return_sequences=True, reset_after=False, dropout=self.dropout, name=f"gru_{k}")
            for k, u in enumerate(self.units)
        ]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for gru, units in zip(self.grus, self.units):
            if not gru.built:
                gru.build(shape)
            shape = (*shape[:-1], units)

    def call(self, inputs, training=None):
        x = inputs
        for gru in self.grus:
            x = gru(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units[-1])

    def get_config(self):
        config = super().get_config()
        config.update(units=list(self.units), dropout=self.dropout)
        return config
