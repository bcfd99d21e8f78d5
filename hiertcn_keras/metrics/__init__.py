"""Full-catalogue ranking metrics (NumPy; evaluation runs outside the Keras graph)."""

from hiertcn_keras.metrics.ranking_metrics import RankingMetrics, ranking_metrics
from hiertcn_keras.metrics.chunking import ChunkPlan, budget_from_memory, chunk_bytes, plan_chunks
from hiertcn_keras.metrics.ranks import (
    TIE_POLICIES,
    candidate_mask,
    count_ranks,
    inner_product_ranks,
    ranks_from_counts,
)

__all__ = [
    "TIE_POLICIES",
    "ChunkPlan",
    "RankingMetrics",
    "budget_from_memory",
    "candidate_mask",
    "chunk_bytes",
    "count_ranks",
    "inner_product_ranks",
    "plan_chunks",
    "ranking_metrics",
    "ranks_from_counts",
]
