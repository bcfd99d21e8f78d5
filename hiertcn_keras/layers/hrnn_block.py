"""`HRNNBlock`: the HRNN baseline's two coupled GRUs (Quadrana et al., RecSys 2017).

Unlike HierTCN, the user-level GRU of HRNN is fed the *last hidden state* of the session-level
GRU, so session i's low level must run before the high level can step to session i + 1: the
block loops over the S session slots in order.

Naming, as everywhere in the package: the *session GRU* runs inside a session, over its items;
the *user GRU* (HierTCN's `HighLevelGRU`) steps once per session.

For session slot i of each row:

1. the user state is zeroed where `user_start[i]`;
2. the session GRU starts from `tanh(W · user_state + b)` and reads `[x̂, a1 … an]` (one step
   longer than the inputs): its outputs at steps 0 … n−1 predict a1 … an, and its state after
   reading a_n is the session representation;
3. the user GRU steps once on that representation (padded slots keep the user state).

Shape legend: B rows, S session slots, L steps, D item features, Hs/Hu session/user units.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hiertcn")
class HRNNBlock(keras.layers.Layer):
    """HRNN's session GRU initialised from a user GRU, with the user state carried per row.

    Args:
        session_units: int. Hs. Defaults to 128.
        user_units: int. Hu. Defaults to 128.
        batch_size: int. B; the user state is carried from call to call in a variable.
        dropout: float. Dropout on the session GRU's inputs (training only). Defaults to 0.
        **kwargs: base `Layer` arguments.

    Call arguments:
        items: float tensor `[B, S, L, D]`: the embeddings of the session's items a1 … aL.
        mask: bool tensor `[B, S, L]`.
        user_start: bool tensor `[B, S]`.
        session_mask: bool tensor `[B, S]`.

    Returns:
        Float tensor `[B, S, L, Hs]`: the session GRU's output that predicts each item.
    """

    def __init__(self, session_units=128, user_units=128, batch_size=32, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dropout = float(dropout)
        self.session_units = int(session_units)
        self.user_units = int(user_units)
        self.batch_size = int(batch_size)
        self.session_gru = keras.layers.GRU(
            self.session_units, return_sequences=True, return_state=True, dropout=self.dropout,
            name="session_gru"
        )
        self.user_cell = keras.layers.GRUCell(self.user_units, name="user_cell")
        self.init_dense = keras.layers.Dense(self.session_units, activation="tanh", name="session_init")

    def build(self, items_shape, mask_shape=None, user_start_shape=None, session_mask_shape=None):
        steps, features = items_shape[2], items_shape[3]
        if not self.session_gru.built:
            self.session_gru.build((self.batch_size, steps + 1, features))
        if not self.user_cell.built:
            self.user_cell.build((self.batch_size, self.session_units))
        if not self.init_dense.built:
            self.init_dense.build((self.batch_size, self.user_units))
        self.state = self.add_weight(
            shape=(self.batch_size, self.user_units), initializer="zeros", trainable=False, name="user_state",
            # A per-row carried state: each tf.distribute replica keeps its own rows' copy
            # (hiertcn_keras/training/distribute.py); no effect without a strategy.
            aggregation="only_first_replica",
        )

    def reset_state(self):
        self.state.assign(ops.zeros_like(self.state.value))

    def call(self, items, mask, user_start, session_mask, training=None):
        user = ops.cast(self.state, self.compute_dtype)
        if keras.backend.backend() == "torch":
            user = ops.copy(user)
        start = ops.cast(user_start, "bool")
        valid = ops.cast(session_mask, "bool")
        mask = ops.cast(mask, "bool")
        zeros = ops.zeros_like(items[:, 0, :1])
        true = ops.ones_like(mask[:, 0, :1])
        outputs = []
        for i in range(items.shape[1]):
            user = ops.where(ops.expand_dims(start[:, i], -1), ops.zeros_like(user), user)
            sequence = ops.concatenate([zeros, items[:, i]], axis=1)  # [x̂, a1 … aL]
            seq_mask = ops.concatenate([true, mask[:, i]], axis=1)
            out, last = self.session_gru(
                sequence, initial_state=[self.init_dense(user)], mask=seq_mask, training=training
            )
            outputs.append(out[:, :-1])
            stepped, _ = self.user_cell(last, [user], training=training)
            user = ops.where(ops.expand_dims(valid[:, i], -1), stepped, user)
        self.state.assign(ops.cast(user, self.state.dtype))
        return ops.stack(outputs, axis=1)

    def compute_output_shape(self, items_shape, *args):
        return (*items_shape[:3], self.session_units)

    def get_config(self):
        config = super().get_config()
        config.update(session_units=self.session_units, user_units=self.user_units, batch_size=self.batch_size,
                      dropout=self.dropout)
        return config
