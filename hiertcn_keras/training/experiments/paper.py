"""The paper's numbers, and the names of the models, metrics and objectives of its tables.

The paper's numbers (docs/concepts.md#results-reported-in-the-paper) are here as constants so
that the notebooks print them beside ours: `PAPER_MODELS` (HierTCN vs others, XING and
Pinterest), `PAPER_TRAINING_SECONDS` and `PAPER_OBJECTIVES` (HierTCN with L2/NCE/BPR/Hinge on
Pinterest).
"""

from __future__ import annotations

NEURAL = ("hiertcn", "hiergru", "hrnn", "tcn", "gru")
SIMPLE = ("mv", "maxitem", "pop", "sknn")  # the paper-table baselines; models.baselines.NAMES has all
NAMES = {"hiertcn": "HierTCN", "hiergru": "HierGRU", "hrnn": "HRNN", "tcn": "TCN", "gru": "GRU",
         "mv": "MV", "maxitem": "MaxItem", "pop": "Pop", "sknn": "SKNN", "oracle": "oracle",
         "recentpop": "RecentPop", "successor": "Successor", "sr": "SR", "iknn": "Item-kNN", "vsknn": "V-SKNN",
         "l2": "L2", "nce": "NCE", "bpr": "BPR", "hinge": "Hinge"}
METRICS = {"recall@1": "Recall@1", "recall@5": "Recall@5", "recall@10": "Recall@10", "mrr": "MRR", "mrp": "MRP ↓"}
LOWER_IS_BETTER = ("mrp",)

# docs/concepts.md#results-reported-in-the-paper, as presented in the paper and the talk ("–": not reported).
PAPER_MODELS = {
    "XING": {
        "recall@10": {"hiertcn": 0.139, "hiergru": 0.105, "hrnn": 0.113, "tcn": 0.108, "gru": 0.124, "mv": 0.107},
        "mrr": {"hiertcn": 0.071, "hiergru": 0.037, "hrnn": 0.040, "tcn": 0.038, "gru": 0.043},
        "mrp": {"hiertcn": 0.121, "hiergru": 0.161, "hrnn": 0.149, "tcn": 0.198, "gru": 0.141},
    },
    "Pinterest": {
        "recall@1": {"hiertcn": 0.206, "hiergru": 0.184, "hrnn": 0.174, "tcn": 0.194, "gru": 0.195,
                     "mv": 0.1658, "maxitem": 0.1487},
        "recall@5": {"hiertcn": 0.663, "hiergru": 0.639, "hrnn": 0.619, "tcn": 0.653, "gru": 0.655,
                     "mv": 0.6120, "maxitem": 0.5843},
        "recall@10": {"hiertcn": 0.855, "hiergru": 0.839, "hrnn": 0.828, "tcn": 0.850, "gru": 0.852,
                      "mv": 0.8173, "maxitem": 0.7921},
        "mrr": {"hiertcn": 0.402, "hiergru": 0.380, "hrnn": 0.366, "tcn": 0.391, "gru": 0.392,
                "mv": 0.3593, "maxitem": 0.3400},
        "mrp": {"hiertcn": 0.304, "hiergru": 0.326, "hrnn": 0.338, "tcn": 0.313, "gru": 0.311,
                "mv": 0.3484, "maxitem": 0.3724},
    },
}
PAPER_TRAINING_SECONDS = {"hiertcn": 295.3, "hiergru": 747.8, "hrnn": 693.1, "tcn": 254.0, "gru": 776.8}
PAPER_OBJECTIVES = {
    "recall@1": {"l2": 0.167, "nce": 0.192, "bpr": 0.183, "hinge": 0.201},
    "recall@5": {"l2": 0.611, "nce": 0.642, "bpr": 0.632, "hinge": 0.657},
    "recall@10": {"l2": 0.817, "nce": 0.838, "bpr": 0.832, "hinge": 0.851},
    "mrr": {"l2": 0.360, "nce": 0.386, "bpr": 0.377, "hinge": 0.396},
    "mrp": {"l2": 0.349, "nce": 0.322, "bpr": 0.331, "hinge": 0.309},
}
