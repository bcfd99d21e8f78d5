"""The experiments behind the notebooks: the paper's tables as functions returning DataFrames.

Each notebook in `notebooks/` calls these functions and shows what they return; everything a
notebook computes can be rerun from a script with the same calls. Modules: `paper` (the
paper's numbers and the names in its tables), `runs` (the embedded dataset; neural runs
trained once and reused), `tables` (the main and objective tables), `case_study` (one user's
top-K lists), `item_space` (nearest items, topic purity, the item store), `speed` (training and evaluation
speed side by side, data bytes per event).
"""

from hiertcn_keras.training.experiments.case_study import top_k, top_k_baseline, top_k_recommender, user_view
from hiertcn_keras.training.experiments.item_space import item_store, item_topics, nearest_items, topic_purity
from hiertcn_keras.training.experiments.paper import (
    LOWER_IS_BETTER,
    METRICS,
    NAMES,
    NEURAL,
    PAPER_MODELS,
    PAPER_OBJECTIVES,
    PAPER_TRAINING_SECONDS,
    SIMPLE,
)
from hiertcn_keras.training.experiments.runs import default_dataset, fit_baseline, train_or_load
from hiertcn_keras.training.experiments.speed import evaluation_speed, memory_report, training_speed
from hiertcn_keras.training.experiments.tables import (
    model_table,
    objective_table,
    pairwise_orderings,
    paper_layout,
    results_frame,
)

__all__ = [
    "LOWER_IS_BETTER", "METRICS", "NAMES", "NEURAL", "PAPER_MODELS", "PAPER_OBJECTIVES",
    "PAPER_TRAINING_SECONDS", "SIMPLE", "default_dataset", "evaluation_speed", "fit_baseline", "item_store", "item_topics",
    "memory_report", "model_table", "nearest_items", "objective_table", "pairwise_orderings", "paper_layout",
    "results_frame", "top_k", "top_k_baseline", "top_k_recommender", "topic_purity", "train_or_load", "training_speed",
    "user_view",
]
