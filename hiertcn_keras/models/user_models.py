"""Functional user models: batch tensors → the user embedding u_t of every step.

HierTCN and HierGRU are built in `hiertcn` (with their online steps), the inputs in `inputs`;
this module builds the other neural models and names them all in `BUILDERS`.

Shape legend: B batch rows (queues), S session slots, L steps per session, T flat steps,
D item embedding size, H high-level state size, E output (user-embedding) size.

- **HierTCN** (docs/concepts.md#the-model): a GRU over sessions (long-term interest) whose state *before*
  session i is tiled over session i's steps and concatenated to every step's input item; a
  causal TCN applied to every session slot by a TimeDistributed wrapper (short-term interest);
  a Dense to the output space.
- **HierGRU**: the same, with a 2-layer GRU as the low level.
- **HRNN**: the session GRU starts from `tanh(W · user state)`; the user GRU reads the session
  GRU's last state (`HRNNBlock`).
- **TCN**, **GRU**: flat models over the whole history in chunks of T events. The flat TCN
  reads packed rows by default (`flat_packed`): users' histories laid end to end, the
  receptive field cut at every user boundary, so its rows are not mostly padding; its scores
  equal those of one user per row (tested to 1e-5).
- **GRU4Rec** (Hidasi et al. 2016): a session-based GRU trained on session-parallel
  mini-batches (B lanes of sessions, the state zeroed where a session starts), tied input and
  output item tables and sampled softmax with shared popularity negatives.

Hierarchical inputs: `items`, `inputs`, `mask` `[B, S, L]`; `session_mask`, `user_start`, `gap`
`[B, S]`. Flat inputs: `inputs`, `mask` `[B, T]`; `user_start` `[B]`. Packed inputs (packed
TCN, GRU4Rec): `inputs`, `mask`, `segment_start` `[B, T]`. The batch size is part of
the model (the high-level state of each row is carried between batches in a variable).
"""

from __future__ import annotations

import keras

from hiertcn_keras.layers import TCN
from hiertcn_keras.layers.carried_gru import CarriedGRU
from hiertcn_keras.layers.hrnn_block import HRNNBlock
from hiertcn_keras.layers.session_parallel_gru import SessionParallelGRU
from hiertcn_keras.models.hiertcn import build_hiergru, build_hiertcn
from hiertcn_keras.models.inputs import flat_inputs, hierarchical_inputs, item_embedding, packed_inputs


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
    """Flat TCN over the whole history (receptive field ≥ 250 with the default channels).

    With `config.flat_packed` (the default) it reads packed rows and cuts its receptive field
    at every `segment_start`; otherwise one user's chunk per row.
    """
    inputs = packed_inputs(config) if config.flat_packed else flat_inputs(config)
    x = item_embedding(config, item_matrix)(inputs["inputs"])
    tcn = TCN(config.flat_tcn_channels, kernel_size=config.kernel_size, variant=config.tcn_variant,
              dropout=config.dropout, name="flat_tcn")
    h = tcn(x, segment_start=inputs["segment_start"]) if config.flat_packed else tcn(x)
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


def build_gru4rec(config, item_matrix=None):
    """GRU4Rec: a GRU over each session alone, on session-parallel lanes (state reset per session)."""
    inputs = packed_inputs(config)
    x = item_embedding(config, item_matrix)(inputs["inputs"])
    h = SessionParallelGRU(config.gru4rec_units, batch_size=config.batch_size, dropout=config.dropout,
                           name="gru4rec")(x, inputs["segment_start"], inputs["mask"])
    u = keras.layers.Dense(config.output_dim, name="user_embedding")(h)
    return keras.Model(inputs, u, name="gru4rec")


BUILDERS = {
    "hiertcn": build_hiertcn,
    "hiergru": build_hiergru,
    "hrnn": build_hrnn,
    "tcn": build_flat_tcn,
    "gru": build_flat_gru,
    "gru4rec": build_gru4rec,
}


def build_user_model(config, item_matrix=None):
    """Build the functional user model named by `config.model`."""
    return BUILDERS[config.model](config, item_matrix)
