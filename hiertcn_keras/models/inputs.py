"""The inputs every user model starts from: the batch tensors and the input item table.

Shape legend: B batch rows (queues), S session slots, L steps per session, T flat steps.

Hierarchical inputs: `items`, `inputs`, `mask` `[B, S, L]`; `session_mask`, `user_start`, `gap`
`[B, S]`. Flat inputs: `inputs`, `mask` `[B, T]`; `user_start` `[B]`. Packed inputs (segments
laid end to end in a row, `hiertcn_keras.data.packing`): `inputs`, `mask`, `segment_start` `[B, T]`. The batch size is part of
the model (the high-level state of each row is carried between batches in a variable).
"""

from __future__ import annotations

import keras

from hiertcn_keras.layers import ItemEmbedding


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


def packed_inputs(config):
    B, T = config.batch_size, config.flat_chunk_len
    return {
        "inputs": keras.Input((T,), batch_size=B, dtype="int32", name="inputs"),
        "mask": keras.Input((T,), batch_size=B, dtype="bool", name="mask"),
        "segment_start": keras.Input((T,), batch_size=B, dtype="bool", name="segment_start"),
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
