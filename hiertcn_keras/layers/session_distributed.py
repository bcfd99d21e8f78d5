"""Apply a sequence layer to every session slot by folding the session axis into the batch.

Shape legend: B batch rows, S session slots, L steps per session, F input features,
N = B·S folded sequences.

Why not plain `keras.layers.TimeDistributed`: with a static S it calls the wrapped layer S
times in a Python loop (S small convolutions, S kernel launches, S copies of the graph); here
`[B, S, L, F]` is reshaped to `[B·S, L, F]`, the layer runs once, and the result is reshaped
back. The numbers are the same (tested); the layer still IS a `TimeDistributed`, so model
summaries and `isinstance` checks read as the paper's Keras summary does.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hiertcn")
class SessionDistributed(keras.layers.TimeDistributed):
    """Applies `layer` (`[N, L, F] -> [N, ...]`) to each session slot of `[B, S, L, F]`.

    Args:
        layer: a `keras.layers.Layer` taking `[N, L, F]`, e.g. a `TCN`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor `[B, S, L, F]` (any rank ≥ 3: `[B, S, ...]`).
        training: bool, passed to `layer` when its `call` takes it.
        mask: optional tensor `[B, S, ...]`; folded to `[B·S, ...]` and passed to `layer`
            when its `call` takes a mask (as `TimeDistributed` does).

    Returns:
        Tensor `[B, S, ...]`: `layer`'s output for every slot, e.g. `[B, S, L, C]`.

    Example:

    >>> wrapped = SessionDistributed(TCN(channels=(16,), kernel_size=3))
    >>> wrapped(np.zeros((2, 10, 20, 8))).shape
    (2, 10, 20, 16)
    """

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(self._get_child_input_shape(input_shape))

    def _get_child_input_shape(self, input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError(
                "SessionDistributed expects inputs [B, S, ...] with at least 3 axes, "
                f"got shape {input_shape}"
            )
        batch, slots = input_shape[0], input_shape[1]
        folded = None if batch is None or slots is None else batch * slots
        return (folded, *input_shape[2:])

    def compute_output_shape(self, input_shape):
        child_output_shape = self.layer.compute_output_shape(
            self._get_child_input_shape(input_shape)
        )
        return (input_shape[0], input_shape[1], *child_output_shape[1:])

    def call(self, inputs, training=None, mask=None):
        shape = ops.shape(inputs)
        batch, slots = shape[0], shape[1]
        folded = ops.reshape(inputs, (-1, *shape[2:]))
        kwargs = {}
        if self.layer._call_has_training_arg:
            kwargs["training"] = training
        if mask is not None and self.layer._call_has_mask_arg:
            kwargs["mask"] = ops.reshape(mask, (-1, *ops.shape(mask)[2:]))
        outputs = self.layer(folded, **kwargs)
        out_shape = ops.shape(outputs)
        return ops.reshape(outputs, (batch, slots, *out_shape[1:]))
