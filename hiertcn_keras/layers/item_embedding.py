"""Item embeddings where index 0 (padding and the session start token x̂) is an exact zero.

Shape legend: `[...]` any index shape (e.g. [B, S, L]), D = `dim`, V = `n_items` (the
vocabulary including index 0; items are 1..V−1).

Why not `keras.layers.Embedding`: HierTCN needs row 0 to be exactly zero at all times, also
after training (the start token x̂ and padding are zero vectors by definition), and the scoring
code needs the whole matrix with row 0 zeroed. Keeping row 0 zero through its initial value
is fragile (weight decay, a pretrained matrix with a non-zero row 0), so the lookup masks
index 0 out instead (`where`, so the zeros are +0.0 exactly). The mask also makes the gradient
of row 0 exactly zero.
"""

import keras
import numpy as np
from keras import ops


def _is_initializer(value):
    return isinstance(value, (str, dict)) or callable(value)


def _is_int(x):
    return "int" in keras.backend.standardize_dtype(x.dtype)


@keras.saving.register_keras_serializable(package="hiertcn")
class ItemEmbedding(keras.layers.Layer):
    """Lookup table of item vectors with an always-zero row 0.

    Args:
        n_items: int. Rows of the table, including row 0 (so items are `1 .. n_items − 1`).
        dim: int. Embedding size D.
        trainable: bool. `False` freezes the table (e.g. pretrained PinSage vectors).
            Defaults to `True`.
        embeddings_initializer: an initializer (name, config or instance), or a pretrained
            matrix `[n_items, dim]` (NumPy array or nested lists; its row 0 is ignored).
            Defaults to `"uniform"`. A matrix is not stored in the config: the `.keras`
            file keeps it with the weights.
        dropout: float in `[0, 1)`. Embedding dropout: in training, each looked-up vector's
            features are zeroed with this probability (and the rest scaled by 1 / (1 − p));
            inactive in inference. Defaults to `0.0`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: int tensor `[...]` of item indices in `[0, n_items)`.
        training: bool. Whether dropout is active.

    Returns:
        Float tensor `[..., dim]`; exact zeros wherever the index is 0.

    Example:

    >>> table = np.random.rand(5, 3).astype("float32")
    >>> layer = ItemEmbedding(5, 3, trainable=False, embeddings_initializer=table)
    >>> layer(np.array([[0, 2]])).shape  # [0, 0] is zeros, whatever table[0] holds
    (1, 2, 3)
    """

    def __init__(
        self,
        n_items,
        dim,
        trainable=True,
        embeddings_initializer="uniform",
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(trainable=trainable, **kwargs)
        for arg, value in (("n_items", n_items), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{arg} must be an int ≥ 1, got {value!r}")
            if value < 1:
                raise ValueError(f"{arg} must be an int ≥ 1, got {value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.n_items = int(n_items)
        self.dim = int(dim)
        self.dropout = float(dropout)
        self.seed_generator = keras.random.SeedGenerator() if self.dropout > 0 else None
        self._pretrained = None
        if _is_initializer(embeddings_initializer):
            self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        else:
            matrix = np.asarray(embeddings_initializer)
            if matrix.shape != (self.n_items, self.dim):
                raise ValueError(
                    "embeddings_initializer matrix must have shape "
                    f"(n_items, dim) = {(self.n_items, self.dim)}, got {matrix.shape}"
                )
            self._pretrained = matrix
            self.embeddings_initializer = keras.initializers.get("zeros")

    def build(self, input_shape=None):
        if self._pretrained is not None:
            matrix = self._pretrained

            def initializer(shape, dtype=None):
                return ops.cast(matrix, dtype)

        else:
            initializer = self.embeddings_initializer
        self.table = self.add_weight(
            shape=(self.n_items, self.dim),
            initializer=initializer,
            name="embeddings",
            trainable=True,  # the layer's own `trainable` flag freezes it
        )
        self._pretrained = None  # held by the variable now; don't keep a second copy

    @property
    def embeddings(self):
        """The table `[n_items, dim]` with row 0 zeroed, for scoring against `u_t`."""
        table = ops.convert_to_tensor(self.table)
        keep = ops.not_equal(ops.expand_dims(ops.arange(self.n_items), -1), 0)
        return ops.where(keep, table, ops.zeros_like(table))

    def call(self, inputs, training=None):
        if not _is_int(inputs):
            inputs = ops.cast(inputs, "int32")
        vectors = ops.take(self.table, inputs, axis=0)
        if training and self.dropout > 0:
            vectors = keras.random.dropout(vectors, self.dropout, seed=self.seed_generator)
        keep = ops.expand_dims(ops.not_equal(inputs, 0), -1)
        return ops.where(keep, vectors, ops.zeros_like(vectors))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_items": self.n_items,
                "dim": self.dim,
                "dropout": self.dropout,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
