"""The item graph of the PinSage-style item embeddings (docs/concepts.md#item-embeddings): the
co-interaction graph and its random-walk importance neighbourhoods. NumPy and scipy only, no
Keras."""

from hiertcn_keras.graph.cointeraction import cointeraction_graph, graph_stats
from hiertcn_keras.graph.neighbourhoods import importance_neighbourhoods

__all__ = ["cointeraction_graph", "graph_stats", "importance_neighbourhoods"]
