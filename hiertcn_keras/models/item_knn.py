"""Item-kNN (the item-based baseline of the GRU4Rec paper, Hidasi et al., ICLR 2016).

Two items are similar when they occur in the same training sessions: with `X` the binary
session × item matrix, `co(i, j) = (XᵀX)_ij` the number of sessions holding both and
`supp(i)` the number holding `i`,

    sim(i, j) = co(i, j) / (supp(i)^alpha · supp(j)^(1 - alpha) + lam)      (i ≠ j)

`alpha = 0.5` is the cosine of the two session-occurrence vectors; `lam` (λ) regularises rare
items whose few sessions overlap by chance (the paper's λ = 20). An event is scored by the
similarity row of its previous item (`last_item.LastItemBaseline`), keeping each item's
`neighbours` most similar items (ties: the lower item id).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hiertcn_keras.models.baseline_base import check_positive, top_k_per_row
from hiertcn_keras.models.last_item import LastItemBaseline, pad_rows


class ItemKNN(LastItemBaseline):
    """Co-occurrence cosine of the previous item with every candidate.

    Worked example: training sessions {1, 2}, {1, 2}, {1, 3}; alpha 0.5, lam 0: supp = 3, 2, 1;
    sim(1, 2) = 2 / √(3·2), sim(1, 3) = 1 / √3, sim(2, 3) = 0.

    Args:
        neighbours: int. Similar items kept per item. Defaults to 100.
        lam: float ≥ 0. λ, added to the denominator. Defaults to 20.
        alpha: float in [0, 1]. Weight of the previous item's support. Defaults to 0.5.
        across_sessions, fallback, chunk_size: see `LastItemBaseline`.
    """

    name = "iknn"
    PARAMS = {"neighbours": [20, 100, 500], "lam": [0.0, 5.0, 20.0, 50.0], "alpha": [0.25, 0.5, 0.75],
              "across_sessions": [False, True]}

    def __init__(self, neighbours=100, lam=20.0, alpha=0.5, across_sessions=False, fallback="pop", chunk_size=2048):
        super().__init__(across_sessions=across_sessions, fallback=fallback, chunk_size=chunk_size)
        self.neighbours = check_positive("neighbours", neighbours)
        if not lam >= 0:
            raise ValueError(f"lam must be ≥ 0, got {lam!r}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
        self.lam, self.alpha = float(lam), float(alpha)

    def _fit_matrix(self, train_view, sessions):
        item = np.asarray(train_view.item, dtype=np.int64)
        keep = item <= self.n_catalogue
        n_cols = self.n_catalogue + 1
        n_sessions = int(sessions[-1]) + 1 if len(sessions) else 0
        x = sp.csr_matrix((np.ones(int(keep.sum())), (sessions[keep], item[keep])), shape=(n_sessions, n_cols))
        x.sum_duplicates()
        x.data[:] = 1.0
        co = (x.T @ x).tocoo()
        support = np.asarray(x.sum(axis=0)).ravel()
        off = co.row != co.col
        i, j, c = co.row[off], co.col[off], co.data[off]
        sim = c / (support[i] ** self.alpha * support[j] ** (1.0 - self.alpha) + self.lam)
        matrix = sp.csr_matrix((sim, (i, j)), shape=(n_cols, n_cols))
        return pad_rows(top_k_per_row(matrix, self.neighbours), self.n_items)
