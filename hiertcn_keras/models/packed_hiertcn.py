"""HierTCN's training graph on packed rows: the same layers, without the padding of the session slots.

Shape legend: B batch rows (queues), S session slots, T packed steps per row (the batch's own),
D item embedding size, H high-level state size, C0 TCN input channels, E output size.

`build_hiertcn` reads `[B, S, L]` batches, in which nearly every position is padding on logs of
short sessions. `packed_hiertcn` builds a second functional graph over the SAME layer objects
(so the same weights; nothing new is saved) that reads the packed batches of
`hiertcn_keras.data.session_packing` (`[B, T]` events, each with its session slot):

1. AGG(session): `SlotPooling` of the target items' vectors → the `session_input` Dense →
   `HighLevelGRU` over the S slots (unchanged: `[B, S]` inputs, the carried state, the resets);
2. every event reads its session's context (`SlotBroadcast`), concatenated to its input item's
   vector and projected, as in the padded graph;
3. the session TCN runs over each packed row with `segment_start` at every session's first
   event: a tap that reaches back into an earlier session reads zero, exactly the left padding
   that session has in its own slot (`TemporalBlock(segments=...)`);
4. the output Dense (and the last-item residual).

So every event's user embedding equals the padded graph's at the same event (tested to 1e-5,
with the loss), while the TCN, the projection, the output layer and the loss run on about B·T
positions instead of B·S·L. `Recommender` trains on this graph when a batch is packed; the
padded graph stays the model that is saved, evaluated and served.
"""

from __future__ import annotations

import keras

from hiertcn_keras.layers import HighLevelGRU, SlotBroadcast, SlotPooling
from hiertcn_keras.models.hiertcn import EMBEDDING, LOW_LEVEL, OUTPUT, PROJECTION, RESIDUAL, SESSION_INPUT


def packed_hierarchical_inputs(config):
    """The inputs of a packed batch: `[B, T]` events (T unknown) and `[B, S]` sessions."""
    B, S = config.batch_size, config.sessions_per_batch
    events = {name: keras.Input((None,), batch_size=B, dtype=dtype, name=name)
              for name, dtype in (("items", "int32"), ("inputs", "int32"), ("mask", "bool"),
                                  ("segment_start", "bool"), ("slot", "int32"))}
    sessions = {name: keras.Input((S,), batch_size=B, dtype=dtype, name=name)
                for name, dtype in (("session_mask", "bool"), ("user_start", "bool"), ("gap", "float32"))}
    return {**events, **sessions}


def packed_hiertcn(user_model, config):
    """The packed training graph of a built (or loaded) HierTCN user model.

    Args:
        user_model: the functional model of `build_hiertcn` (or one loaded from a `.keras` file).
        config: `ModelConfig` of that model (`batch_size`, `sessions_per_batch`).

    Returns:
        A functional `keras.Model` sharing `user_model`'s layers, mapping a packed batch to u
        `[B, T, E]`.
    """
    layer = user_model.get_layer
    names = {item.name for item in user_model.layers}
    inputs = packed_hierarchical_inputs(config)
    embed = layer(EMBEDDING)
    slots = config.sessions_per_batch
    agg = SlotPooling(slots, name="slot_pooling")(embed(inputs["items"]), inputs["slot"], inputs["mask"])
    agg = layer(SESSION_INPUT)(agg)
    # Found by type: files saved before the rename to HighLevelGRU named it "session_gru".
    high_level = next(item for item in user_model.layers if isinstance(item, HighLevelGRU))
    context, _ = high_level(agg, inputs["user_start"], inputs["session_mask"], inputs["gap"])
    steps = embed(inputs["inputs"])
    tiled = SlotBroadcast(name="slot_state")(context, inputs["slot"], inputs["mask"])
    x = layer(PROJECTION)(keras.layers.Concatenate(name="item_and_state")([steps, tiled]))
    h = layer(LOW_LEVEL["hiertcn"]).layer(x, segment_start=inputs["segment_start"])
    u = layer(OUTPUT)(h)
    if RESIDUAL in names:
        u = keras.layers.Add(name="user_embedding_and_last_item")([u, layer(RESIDUAL)(steps)])
    return keras.Model(inputs, u, name="hiertcn_packed")
