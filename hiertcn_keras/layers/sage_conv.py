"""`PinSageConv`: one localized graph convolution with importance pooling (PinSage, KDD 2018).

For a node u with importance neighbourhood {(v, α_v)} (top-T random-walk visits, α summing to 1):

    n_u  = Σ_v α_v · ReLU(Q h_v + q)          importance-weighted pooling of the neighbours
    z_u  = ReLU(W [h_u ; n_u] + w)            combine with the node's own representation
    z_u ← z_u / ‖z_u‖                          L2-normalise

Padding neighbours (index 0) carry α = 0 and so contribute nothing.

Shape legend: N nodes, T neighbours per node, F input features, H output features.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hiertcn")
class PinSageConv(keras.layers.Layer):
    """Importance-pooled GraphSAGE convolution.

    Args:
        units: int. H, the output size.
        pooling_units: int or `None`. Size of `ReLU(Q h_v + q)`. Defaults to `units`.
        normalize: bool. L2-normalise the output. Defaults to `True`.
        **kwargs: base `Layer` arguments.

    Call arguments:
        self_features: float tensor `[N, F]`.
        neighbour_features: float tensor `[N, T, F]`.
        weights: float tensor `[N, T]`: importance α (0 for padding).

    Returns:
        Float tensor `[N, H]`.
    """

    def __init__(self, units, pooling_units=None, normalize=True, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"units must be ≥ 1, got {units}")
        self.units = int(units)
        self.pooling_units = int(pooling_units or units)
        self.normalize = bool(normalize)
        self.pool = keras.layers.Dense(self.pooling_units, activation="relu", name="pool")
        self.combine = keras.layers.Dense(self.units, activation="relu", name="combine")

    def build(self, self_features_shape, neighbour_features_shape=None, weights_shape=None):
        features = self_features_shape[-1]
        if not self.pool.built:
            self.pool.build((None, features))
        if not self.combine.built:
            self.combine.build((None, features + self.pooling_units))

    def call(self, self_features, neighbour_features, weights):
        pooled = self.pool(neighbour_features)  # [N, T, P]
        weights = ops.expand_dims(ops.cast(weights, pooled.dtype), -1)
        n = ops.sum(pooled * weights, axis=-2)  # [N, P]
        z = self.combine(ops.concatenate([self_features, n], axis=-1))
        if self.normalize:
            z = z / ops.maximum(ops.norm(z, axis=-1, keepdims=True), 1e-12)
        return z

    def compute_output_shape(self, self_features_shape, *args):
        return (*self_features_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, pooling_units=self.pooling_units, normalize=self.normalize)
        return config
