"""Reusable Keras layers of HierTCN (keras.ops only; TensorFlow, JAX and PyTorch backends)."""

from hiertcn_keras.layers.high_level_gru import GateBias, HighLevelGRU
from hiertcn_keras.layers.item_embedding import ItemEmbedding
from hiertcn_keras.layers.session_distributed import SessionDistributed
from hiertcn_keras.layers.session_parallel_gru import ResettingGRUCell, SessionParallelGRU
from hiertcn_keras.layers.session_pooling import SessionPooling
from hiertcn_keras.layers.session_slots import SlotBroadcast, SlotPooling
from hiertcn_keras.layers.tcn import TCN
from hiertcn_keras.layers.temporal_block import TemporalBlock

__all__ = [
    "GateBias",
    "HighLevelGRU",
    "ItemEmbedding",
    "ResettingGRUCell",
    "SessionDistributed",
    "SessionParallelGRU",
    "SessionPooling",
    "SlotBroadcast",
    "SlotPooling",
    "TCN",
    "TemporalBlock",
]
