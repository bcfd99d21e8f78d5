"""One residual block of a causal dilated temporal convolutional network (TCN).

Shape legend: N sequences (B·S session slots folded into one axis), L steps per sequence,
F input features, and `filters` output features.

Why our own block: keras-tcn imports TensorFlow directly (TF backend only), so it cannot run on
JAX or PyTorch; this block uses `keras.ops` only.

Causality is exact on every backend: the input is left-padded with (k − 1)·d zeros and then
convolved with a "valid" `Conv1D`, so output step t sees input steps t − (k − 1)·d … t only.
A worked example with k = 2, d = 1, taps w = [w0, w1]: padded x = [0, x0, x1, …] and
y_t = w0·x_{t−1} + w1·x_t. Trailing padding of a session therefore never changes the outputs at
its real steps, which is why the block needs no mask.

Packed rows (several users laid end to end in one row, `hiertcn_keras.data.packing`) pass
`segments`, an int id per step: a tap of the convolution that reaches back into another
segment reads zero instead, exactly the left padding that segment would get alone in its own
row. The outputs of every segment then equal those of the one-segment-per-row block (tested to
1e-5), and nothing crosses a user boundary.
"""

import keras
from keras import ops

VARIANTS = ("official", "bai")


@keras.saving.register_keras_serializable(package="hiertcn")
class TemporalBlock(keras.layers.Layer):
    """Residual block of causal dilated 1D convolutions.

    Two variants:

    - `"official"` (the official HierTCN code): `h = ReLU(causal_conv(x))`, then
      `ReLU(h + r)`, with `r = Dense(filters)(x)` when the input width differs from `filters`
      and `r = x` otherwise. No normalization.
    - `"bai"` (Bai, Kolter & Koltun 2018): two causal convolutions, each followed by ReLU and
      dropout, and the same residual. Weight normalization is left out (HierTCN uses none).

    Args:
        filters: int. Number of output channels.
        kernel_size: int. Width of each causal convolution. Defaults to `5`.
        dilation_rate: int. Dilation `d` of the convolutions. Defaults to `1`.
        variant: str. `"official"` or `"bai"`. Defaults to `"official"`.
        dropout: float in `[0, 1)`. Dropout after each convolution's ReLU (training only).
            Defaults to `0.0` (as in the official code).
        kernel_initializer: initializer of the convolution and residual kernels.
            Defaults to `"glorot_uniform"`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[N, L, F]`.
        segments: int tensor `[N, L]` or `None`. Segment id of every step (packed rows): a
            step sees only earlier steps with its own id. `None`: one segment per row.
        training: bool. Whether dropout is active.

    Returns:
        Float tensor `[N, L, filters]`; step t depends only on input steps `≤ t` (of its own
        segment).

    Example:

    >>> block = TemporalBlock(8, kernel_size=3, dilation_rate=2)
    >>> block(np.zeros((4, 20, 16))).shape
    (4, 20, 8)
    """

    def __init__(
        self,
        filters,
        kernel_size=5,
        dilation_rate=1,
        variant="official",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (
            ("filters", filters),
            ("kernel_size", kernel_size),
            ("dilation_rate", dilation_rate),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be an int ≥ 1, got {value!r}")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.dilation_rate = dilation_rate
        self.variant = variant
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

        n_convs = 1 if variant == "official" else 2
        self.convs = [
            keras.layers.Conv1D(
                filters,
                kernel_size,
                dilation_rate=dilation_rate,
                padding="valid",
                activation="relu",
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=f"conv_{i}",
            )
            for i in range(n_convs)
        ]
        self.dropouts = [
            keras.layers.Dropout(dropout, name=f"dropout_{i}") for i in range(n_convs)
        ]
        # Created in build(): only needed when the input width differs from `filters`.
        self.downsample = None

    @property
    def receptive_field(self):
        """Number of input steps an output step sees: `1 + convs·(k − 1)·d`."""
        return 1 + len(self.convs) * (self.kernel_size - 1) * self.dilation_rate

    def _causal_pad(self, x):
        pad = (self.kernel_size - 1) * self.dilation_rate
        return ops.pad(x, [[0, 0], [pad, 0], [0, 0]])

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"TemporalBlock expects inputs [N, L, F], got shape {input_shape}"
            )
        width = input_shape[-1]
        if width is None:
            raise ValueError(
                f"TemporalBlock needs a known feature size F, got shape {input_shape}"
            )
        batch, steps = input_shape[0], input_shape[1]
        pad = (self.kernel_size - 1) * self.dilation_rate
        padded_steps = None if steps is None else steps + pad  # what the convs really see
        for i, conv in enumerate(self.convs):
            if not conv.built:
                conv.build((batch, padded_steps, width if i == 0 else self.filters))
        if width != self.filters:
            self.downsample = keras.layers.Dense(
                self.filters,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name="downsample",
            )
            self.downsample.build(tuple(input_shape))

    def _segment_conv(self, conv, x, segments):
        """`conv(causal_pad(x))` with every tap that reaches into another segment zeroed.

        Tap j of a "valid" convolution over the left-padded input reads step t − s with
        s = (k − 1 − j)·d; all taps are stacked on the feature axis and multiplied by the
        kernel reshaped to `[k·F, filters]` (one matmul, the convolution's FLOPs).
        """
        taps = []
        for j in range(self.kernel_size):
            shift = (self.kernel_size - 1 - j) * self.dilation_rate
            if shift == 0:
                taps.append(x)
                continue
            earlier = ops.pad(x, [[0, 0], [shift, 0], [0, 0]])[:, :-shift]
            earlier_segment = ops.pad(segments, [[0, 0], [shift, 0]], constant_values=-1)[:, :-shift]
            same = ops.cast(ops.equal(earlier_segment, segments), x.dtype)
            taps.append(earlier * ops.expand_dims(same, -1))
        kernel = ops.reshape(conv.kernel, (-1, ops.shape(conv.kernel)[-1]))
        y = ops.matmul(ops.concatenate(taps, axis=-1), ops.cast(kernel, x.dtype))
        return conv.activation(y + ops.cast(conv.bias, x.dtype))

    def call(self, inputs, segments=None, training=None):
        h = inputs
        for conv, drop in zip(self.convs, self.dropouts):
            if segments is None:
                h = drop(conv(self._causal_pad(h)), training=training)
            else:
                h = drop(self._segment_conv(conv, h, segments), training=training)
        r = inputs if self.downsample is None else self.downsample(inputs)
        return ops.relu(h + r)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate,
                "variant": self.variant,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
