"""Functional user models: batch tensors → the user embedding u_t of every step.

Shape legend: B batch rows (queues), S session slots, L steps per session, T flat steps,
D item embedding size, H high-level state size, E output (user-embedding) size.

- **HierTCN** (DESIGN.md §2): a GRU over sessions (long-term interest) whose state *before*
  session i is tiled over session i's steps and concatenated to every step's input item; a
  causal TCN applied to every session slot by a TimeDistributed wrapper (short-term interest);
  a Dense to the output space.
- **HierGRU**: the same, with a 2-layer GRU as the low level.
- **HRNN**: the session GRU starts from `tanh(W · user state)`; the user GRU reads the session
  GRU's last state (`HRNNBlock`).
- **TCN**, **GRU**: flat models over the whole history in chunks of T events.

Hierarchical inputs: `items`, `inputs`, `mask` `[B, S, L]`; `session_mask`, `user_start`, `gap`
`[B, S]`. Flat inputs: `inputs`, `mask` `[B, T]`; `user_start` `[B]`. The batch size is part of
the model (the high-level state of each row is carried between batches in a variable).
"""

from __future__ import annotations

import keras

from hiertcn_keras.layers import (
    TCN,
    ItemEmbedding,
    SessionDistributed,
    SessionGRU,
    SessionPooling,
)
from hiertcn_keras.layers.carried_gru import CarriedGRU
from hiertcn_keras.layers.gru_stack import GRUStack
from hiertcn_keras.layers.hrnn_block import HRNNBlock


def hierarchical_inputs(config):
    B, S, L = config.batch_size, config.sessions_per_batch, config.max_session_len
    return {
        "items": keras.Input((S, L), batch_size=B, dtype="int32", name="items"),
        "inputs": keras.Input((S, L), batch_size=B, dtype="int32", name="inputs"),
        "mask": keras.Input((S, L), batch_size=B, dtype="bool", name="mask"),
        "session_mask": keras.Input((S,), batch_size=B, dtype="bool", name="session_mask"),
        "user_start": keras.Input((S,), batch_size=B, dtype="bool", name="user_start"),
        "gap": keras.Input((S,), batch_size=B, dtype="float32", name="gap"),
    }


def flat_inputs(config):
    B, T = config.batch_size, config.flat_chunk_len
    return {
        "inputs": keras.Input((T,), batch_size=B, dtype="int32", name="inputs"),
        "mask": keras.Input((T,), batch_size=B, dtype="bool", name="mask"),
        "user_start": keras.Input((), batch_size=B, dtype="bool", name="user_start"),
    }


def item_embedding(config, item_matrix=None):
    """The input item table: learned ids, or frozen pretrained vectors (row 0 always zero)."""
    if config.item_space == "pretrained":
        if item_matrix is None:
            raise ValueError("the pretrained item space needs an item matrix [n_items, D]")
        if item_matrix.shape[0] != config.n_items:
            raise ValueError(f"item matrix has {item_matrix.shape[0]} rows, the data has {config.n_items} items")
        return ItemEmbedding(
            config.n_items, item_matrix.shape[1], trainable=False, embeddings_initializer=item_matrix,
            name="item_embedding",
        )
    return ItemEmbedding(config.n_items, config.embedding_dim, dropout=config.embedding_dropout, name="item_embedding")


def _high_level_context(config, embed, inputs):
    """AGG(session) = mean item embedding → Dense → SessionGRU; returns the state before each session."""
    session_items = embed(inputs["items"])
    agg = SessionPooling(name="session_pooling")(session_items, inputs["mask"])
    agg = keras.layers.Dense(config.high_units[0], name="session_input")(agg)
    context, _ = SessionGRU(
        config.high_units, decay_bandwidth=config.decay_bandwidth, stateful=True,
        batch_size=config.batch_size, name="session_gru",
    )(agg, inputs["user_start"], inputs["session_mask"], inputs["gap"])
    return context


def _low_level_inputs(config, embed, inputs, context):
    """Every step's input item concatenated with the tiled high-level state, projected."""
    steps = embed(inputs["inputs"])
    tiled = SessionDistributed(keras.layers.RepeatVector(config.max_session_len), name="tile_state")(context)
    x = keras.layers.Concatenate(name="item_and_state")([steps, tiled])
    return keras.layers.Dense(config.tcn_channels[0], name="low_projection")(x)


def build_hiertcn(config, item_matrix=None):
    """HierTCN: TimeDistributed TCN blocks nested inside a GRU over sessions.

    Args:
        config: `ModelConfig` with `model="hiertcn"`.
        item_matrix: float array `[n_items, D]` for the pretrained item space, else `None`.

    Returns:
        A functional `keras.Model` mapping the hierarchical inputs to u `[B, S, L, E]`.
    """
    inputs = hierarchical_inputs(config)
    embed = item_embedding(config, item_matrix)
    context = _high_level_context(config, embed, inputs)
    x = _low_level_inputs(config, embed, inputs, context)
    tcn = TCN(config.tcn_channels, kernel_size=config.kernel_size, variant=config.tcn_variant,
              dropout=config.dropout, name="session_tcn")
    h = SessionDistributed(tcn, name="time_distributed_tcn")(x)
    u = keras.layers.Dense(config.output_dim, name="user_embedding")(h)
    return keras.Model(inputs, u, name="hiertcn")


def build_hiergru(config, item_matrix=None):
    """HierGRU: HierTCN with a 2-layer session GRU in place of the TCN."""
    inputs = hierarchical_inputs(config)
    embed = item_embedding(config, item_matrix)
    context = _high_level_context(config, embed, inputs)
    x = _low_level_inputs(config, embed, inputs, context)
    h = SessionDistributed(GRUStack(config.low_gru_units, dropout=config.dropout, name="session_gru_stack"),
                           name="time_distributed_gru")(x)
    u = keras.layers.Dense(config.output_dim, name="user_embedding")(h)
    return keras.Model(inputs, u, name="hiergru")


def build_hrnn(config, item_matrix=None):
    """HRNN (Quadrana et al. 2017): a session GRU initialised from a user GRU."""
    inputs = hierarchical_inputs(config)
    embed = item_embedding(config, item_matrix)
    h = HRNNBlock(config.hrnn_units, config.hrnn_units, batch_size=config.batch_size, dropout=config.dropout,
                  name="hrnn")(
        embed(inputs["items"]), inputs["mask"], inputs["user_start"], inputs["session_mask"]
    )
    u = keras.layers.Dense(config.output_dim, name="user_embedding")(h)
    return keras.Model(inputs, u, name="hrnn")


def build_flat_tcn(config, item_matrix=None):
    """Flat TCN over the whole history (receptive field ≥ 250 with the default channels)."""
    inputs = flat_inputs(config)
    x = item_embedding(config, item_matrix)(inputs["inputs"])
    h = TCN(config.flat_tcn_channels, kernel_size=config.kernel_size, variant=config.tcn_variant,
            dropout=config.dropout, name="flat_tcn")(x)
    u = keras.layers.Dense(config.output_dim, name="user_embedding")(h)
    return keras.Model(inputs, u, name="tcn")


def build_flat_gru(config, item_matrix=None):
    """Flat GRU over the whole history, state carried across chunks and reset per user."""
    inputs = flat_inputs(config)
    x = item_embedding(config, item_matrix)(inputs["inputs"])
    h = CarriedGRU(config.flat_gru_units, batch_size=config.batch_size, dropout=config.dropout, name="flat_gru")(
        x, inputs["user_start"], inputs["mask"]
    )
    u = keras.layers.Dense(config.output_dim, name="user_embedding")(h)
    return keras.Model(inputs, u, name="gru")


BUILDERS = {
    "hiertcn": build_hiertcn,
    "hiergru": build_hiergru,
    "hrnn": build_hrnn,
    "tcn": build_flat_tcn,
    "gru": build_flat_gru,
}


def build_user_model(config, item_matrix=None):
    """Build the functional user model named by `config.model`."""
    return BUILDERS[config.model](config, item_matrix)
