"""HierTCN: the functional model, and the same model's two online steps.

Shape legend: B batch rows (queues), S session slots, L steps per session, D item embedding
size, F session-summary size, H high-level state size, E output (user-embedding) size, Q users
computed together online.

- **HierTCN** (docs/architecture.md): a GRU over sessions (`HighLevelGRU`, long-term
  interest) whose state *before* session i is tiled over session i's steps and concatenated to
  every step's input item; a causal TCN applied to every session slot (short-term interest);
  a Dense to the output space.
- **HierGRU**: the same, with a 2-layer session GRU (the GRU inside a session) as the low level.
- **Last-item residual** (`ModelConfig.last_item_residual`, on by default; off in the
  paper's plain model and in configs recorded before it existed): both add
  `W · e_last` (a bias-free Dense of the current step's input item embedding) to the output,
  a direct "what follows this item" path beside the session and long-term ones.

Online, a user's history is not replayed: `HierarchicalSteps` computes the same numbers from
the stored high-level state with the model's own layers (no weight copies):
`low_level(inputs, context)` runs the low level over the open session, and
`fold(context, items, decay)` is one high-level step (`HighLevelGRU.step`) when a session ends.
The layer names below are given by the builders here and read back by `HierarchicalSteps`.
"""

from __future__ import annotations

import keras
from keras import ops

from hiertcn_keras.layers import TCN, HighLevelGRU, SessionDistributed, SessionPooling
from hiertcn_keras.layers.gru_stack import GRUStack
from hiertcn_keras.models.inputs import hierarchical_inputs, item_embedding

EMBEDDING = "item_embedding"
POOLING = "session_pooling"
SESSION_INPUT = "session_input"
HIGH_LEVEL = "high_level_gru"
PROJECTION = "low_projection"
LOW_LEVEL = {"hiertcn": "time_distributed_tcn", "hiergru": "time_distributed_gru"}
OUTPUT = "user_embedding"
RESIDUAL = "last_item_residual"


def _high_level_context(config, embed, inputs):
    """AGG(session) = mean item embedding → Dense → HighLevelGRU; returns the state before each session."""
    session_items = embed(inputs["items"])
    agg = SessionPooling(name=POOLING)(session_items, inputs["mask"])
    agg = keras.layers.Dense(config.high_units[0], name=SESSION_INPUT)(agg)
    context, _ = HighLevelGRU(
        config.high_units, decay_bandwidth=config.decay_bandwidth, stateful=True,
        batch_size=config.batch_size, name=HIGH_LEVEL,
    )(agg, inputs["user_start"], inputs["session_mask"], inputs["gap"])
    return context


def _low_level_inputs(config, embed, inputs, context):
    """Every step's input item concatenated with the tiled high-level state, projected.

    Returns:
        `(x [B, S, L, C0], steps [B, S, L, D])`: the projected inputs and the input items' vectors.
    """
    steps = embed(inputs["inputs"])
    tiled = SessionDistributed(keras.layers.RepeatVector(config.max_session_len), name="tile_state")(context)
    x = keras.layers.Concatenate(name="item_and_state")([steps, tiled])
    return keras.layers.Dense(config.tcn_channels[0], name=PROJECTION)(x), steps


def _output(config, h, steps):
    """u = Dense(h), plus `W · e_last` with `config.last_item_residual`."""
    u = keras.layers.Dense(config.output_dim, name=OUTPUT)(h)
    if not config.last_item_residual:
        return u
    residual = keras.layers.Dense(config.output_dim, use_bias=False, name=RESIDUAL)(steps)
    return keras.layers.Add(name="user_embedding_and_last_item")([u, residual])


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
    x, steps = _low_level_inputs(config, embed, inputs, context)
    tcn = TCN(config.tcn_channels, kernel_size=config.kernel_size, variant=config.tcn_variant,
              dropout=config.dropout, name="session_tcn")
    h = SessionDistributed(tcn, name=LOW_LEVEL["hiertcn"])(x)
    return keras.Model(inputs, _output(config, h, steps), name="hiertcn")


def build_hiergru(config, item_matrix=None):
    """HierGRU: HierTCN with a 2-layer session GRU (inside each session) in place of the TCN."""
    inputs = hierarchical_inputs(config)
    embed = item_embedding(config, item_matrix)
    context = _high_level_context(config, embed, inputs)
    x, steps = _low_level_inputs(config, embed, inputs, context)
    h = SessionDistributed(GRUStack(config.low_gru_units, dropout=config.dropout, name="session_gru_stack"),
                           name=LOW_LEVEL["hiergru"])(x)
    return keras.Model(inputs, _output(config, h, steps), name="hiergru")


class HierarchicalSteps:
    """The two online steps of a built or loaded HierTCN / HierGRU user model.

    Args:
        user_model: the functional model of `build_hiertcn` or `build_hiergru` (or one loaded
            from a `.keras` file).
        model: str. `"hiertcn"` or `"hiergru"`.

    Attributes:
        state_size: int. H.
        output_dim: int. E.
        high_level: the model's `HighLevelGRU`.
    """

    def __init__(self, user_model, model):
        if model not in LOW_LEVEL:
            raise ValueError(f"model must be one of {tuple(LOW_LEVEL)}, got {model!r}")
        layer = user_model.get_layer
        self.embedding = layer(EMBEDDING)
        self.pooling = layer(POOLING)
        self.session_input = layer(SESSION_INPUT)
        # Found by type: files saved before the rename to HighLevelGRU named it "session_gru".
        self.high_level = next(item for item in user_model.layers if isinstance(item, HighLevelGRU))
        self.projection = layer(PROJECTION)
        self.low_level_layer = layer(LOW_LEVEL[model]).layer
        self.output = layer(OUTPUT)
        names = {item.name for item in user_model.layers}
        self.residual = layer(RESIDUAL) if RESIDUAL in names else None
        self.state_size = int(self.high_level.state_size)
        self.output_dim = int(self.output.units)

    def low_level(self, inputs, context):
        """User embeddings at every step of the open sessions.

        Args:
            inputs: int tensor `[Q, L']`: `[x̂ = 0, a1..am, 0…]`, the open sessions' items
                shifted right by one step (any L' ≥ m + 1).
            context: float tensor `[Q, H]`, each user's state before the session.

        Returns:
            float tensor `[Q, L', E]`; step j is the embedding that ranks item a(j+1).
        """
        steps = inputs.shape[1]
        items = self.embedding(inputs)
        tiled = ops.repeat(ops.expand_dims(context, 1), steps, axis=1)
        x = self.projection(ops.concatenate([items, tiled], axis=-1))
        u = self.output(self.low_level_layer(x))
        return u if self.residual is None else u + self.residual(items)

    def session_summary(self, items):
        """AGG(session): mean item embedding → the `session_input` Dense.

        Args:
            items: int tensor `[Q, L]`, a session's items padded with 0.

        Returns:
            float tensor `[Q, F]`.
        """
        vectors = self.embedding(ops.expand_dims(items, 1))  # [Q, 1, L, D]
        agg = self.pooling(vectors, ops.expand_dims(ops.not_equal(items, 0), 1))
        return self.session_input(agg)[:, 0]

    def fold(self, context, items, decay):
        """One high-level step: the context of the session after `items`.

        Args:
            context: float tensor `[Q, H]`, the state before the finished session.
            items: int tensor `[Q, L]`, the finished session's items padded with 0.
            decay: float tensor `[Q, 1]`: `exp(−gap / bandwidth)` of a decaying model, else 1.

        Returns:
            float tensor `[Q, H]`.
        """
        return self.high_level.step(context, self.session_summary(items)) * decay
