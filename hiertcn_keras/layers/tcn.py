"""A causal temporal convolutional network: a stack of `TemporalBlock`s with growing dilation.

Shape legend: N sequences (B·S session slots folded into one axis), L steps per sequence,
F input features, C = `channels[-1]` output features.

Block i has dilation 2**i, so the receptive field grows exponentially with depth:
`1 + Σ_i convs_per_block·(k − 1)·2**i`. Worked example, the official setup (channels
[128, 128], k = 5, one conv per block): 1 + 4·1 + 4·2 = 13 steps, which covers a whole
session of at most 20 items from its 13th step on.
"""

import keras
from keras import ops

from hiertcn_keras.layers.temporal_block import TemporalBlock


@keras.saving.register_keras_serializable(package="hiertcn")
class TCN(keras.layers.Layer):
    """Stack of causal dilated residual blocks (dilations 1, 2, 4, …).

    Args:
        channels: sequence of ints. Output channels of each block; its length is the number
            of blocks. Defaults to `(128, 128)` (the official code; the final Pinterest runs
            used `[128] * 4`).
        kernel_size: int. Convolution width in every block. Defaults to `5`.
        variant: str. `"official"` (one conv per block) or `"bai"` (two). See
            `TemporalBlock`. Defaults to `"official"`.
        dropout: float in `[0, 1)`. Dropout inside each block. Defaults to `0.0`.
        kernel_initializer: initializer of every kernel. Defaults to `"glorot_uniform"`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[N, L, F]`.
        segment_start: bool tensor `[N, L]` or `None`. Packed rows: `True` where a new
            segment (user) starts; no step sees a step of an earlier segment (see
            `TemporalBlock`). `None`: one sequence per row.
        training: bool. Whether dropout is active.

    Returns:
        Float tensor `[N, L, channels[-1]]`, causal along L.

    Example:

    >>> tcn = TCN(channels=(16, 16), kernel_size=3)
    >>> tcn.receptive_field  # 1 + 2·1 + 2·2
    7
    >>> tcn(np.zeros((4, 20, 8))).shape
    (4, 20, 16)
    """

    def __init__(
        self,
        channels=(128, 128),
        kernel_size=5,
        variant="official",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        channels = tuple(channels)
        if not channels:
            raise ValueError(f"channels must name at least one block, got {channels!r}")
        self.channels = channels
        self.kernel_size = kernel_size
        self.variant = variant
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        # TemporalBlock validates every argument, echoing the bad value.
        self.blocks = [
            TemporalBlock(
                filters,
                kernel_size=kernel_size,
                dilation_rate=2**i,
                variant=variant,
                dropout=dropout,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i, filters in enumerate(channels)
        ]

    @property
    def receptive_field(self):
        """Input steps one output step sees: `1 + Σ_blocks convs·(k − 1)·d`."""
        return 1 + sum(block.receptive_field - 1 for block in self.blocks)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for block in self.blocks:
            if not block.built:
                block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, inputs, segment_start=None, training=None):
        x = inputs
        segments = None
        if segment_start is not None:  # segment ids: a running count of starts along each row
            segments = ops.cumsum(ops.cast(segment_start, "int32"), axis=1)
        for block in self.blocks:
            x = block(x, segments=segments, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "channels": list(self.channels),
                "kernel_size": self.kernel_size,
                "variant": self.variant,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
