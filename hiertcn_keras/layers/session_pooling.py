"""AGG(session): the masked mean of a session's step vectors, the input of the high-level GRU.

Shape legend: B batch rows, S session slots, L steps per session, D feature dim.

Worked example: a session with steps [a, b, pad] and mask [1, 1, 0] pools to (a + b) / 2; an
all-padding session (mask [0, 0, 0]) pools to exact zeros, because the divisor is clamped to 1
rather than left at 0 (0 / 0 would be NaN and poison the GRU state).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hiertcn")
class SessionPooling(keras.layers.Layer):
    """Masked mean over the steps of every session.

    Args:
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `[B, S, L, D]`.
        mask: bool or 0/1 tensor `[B, S, L]`, true at real steps. `None` averages all L
            steps.

    Returns:
        Float tensor `[B, S, D]`: the mean of the real steps of each session, exact zeros
        for a session without any.

    Example:

    >>> x = np.ones((2, 3, 4, 8))
    >>> mask = np.zeros((2, 3, 4), bool)
    >>> SessionPooling()(x, mask).shape  # every session empty -> zeros
    (2, 3, 8)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=-2)
        keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
        # `where`, not a multiply, so that whatever sits at padded steps (even NaN) is dropped.
        total = ops.sum(ops.where(keep, inputs, ops.zeros_like(inputs)), axis=-2)
        count = ops.sum(ops.cast(keep, inputs.dtype), axis=-2)
        return total / ops.maximum(count, ops.ones_like(count))

    def compute_mask(self, inputs, mask=None):
        # The step mask does not describe the pooled [B, S, D] output.
        return None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-2]) + (input_shape[-1],)
