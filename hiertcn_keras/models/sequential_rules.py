"""Successor counts and sequential rules: what follows the previous item in training sessions.

- `SuccessorCounts` ("most frequent successor of the last item"): `score(c)` = how many times
  `c` directly followed the previous item inside a training session.
- `SequentialRules` (SR; Ludewig & Jannach, "Evaluation of session-based recommendation
  algorithms", UMUAI 2018): every pair `(a, b)` with `b` at most `window` steps after `a` in a
  training session adds `w(d)` to rule `a → b`, `d` the distance in steps; `w(d) = 1 / d`
  (`weighting="div"`, the paper's) or 1 (`"one"`). `prune` keeps each item's `prune`
  strongest rules (ties: the lower item id), as the paper's implementation does.

Both score an event by the rule row of its previous item (`last_item.LastItemBaseline`: state
reset at session and user starts, popularity fallback for the items without a rule).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hiertcn_keras.models.baseline_base import check_positive, top_k_per_row
from hiertcn_keras.models.last_item import LastItemBaseline, check_choice

WEIGHTINGS = ("div", "one")


class SequentialRules(LastItemBaseline):
    """SR: rules `a → b` weighted by `1 / distance` within a window of later steps.

    Worked example: one training session [1, 2, 3], window 2, `div`: rules 1→2 (1), 2→3 (1),
    1→3 (1/2). An event whose previous item is 1 scores item 2 at 1, item 3 at 0.5.

    Args:
        window: int. Largest distance in steps of a rule. Defaults to 10 (the paper's).
        weighting: str. `"div"` (1 / distance) or `"one"`. Defaults to `"div"`.
        prune: int. Rules kept per item (0: all). Defaults to 0.
        across_sessions, fallback, chunk_size: see `LastItemBaseline`.
    """

    name = "sr"
    PARAMS = {"window": [1, 2, 3, 5, 10], "weighting": ["div", "one"], "prune": [0, 20],
              "across_sessions": [False, True]}

    def __init__(self, window=10, weighting="div", prune=0, across_sessions=False, fallback="pop", chunk_size=2048):
        super().__init__(across_sessions=across_sessions, fallback=fallback, chunk_size=chunk_size)
        self.window = check_positive("window", window)
        self.weighting = check_choice("weighting", weighting, WEIGHTINGS)
        self.prune = check_positive("prune", prune, minimum=0)

    def _fit_matrix(self, train_view, sessions):
        item = np.asarray(train_view.item, dtype=np.int64)
        rows, cols, weights = [], [], []
        for d in range(1, self.window + 1):
            if d >= len(item):
                break
            same = sessions[d:] == sessions[:-d]
            a, b = item[:-d][same], item[d:][same]
            keep = b <= self.n_catalogue
            rows.append(a[keep])
            cols.append(b[keep])
            weights.append(np.full(int(keep.sum()), 1.0 / d if self.weighting == "div" else 1.0))
        if not rows:
            return sp.csr_matrix((self.n_items, self.n_catalogue + 1), dtype=np.float64)
        matrix = sp.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(self.n_items, self.n_catalogue + 1), dtype=np.float64)
        matrix.sum_duplicates()
        if self.prune:
            matrix = top_k_per_row(matrix, self.prune)
        return matrix


class SuccessorCounts(SequentialRules):
    """How often each item directly followed the previous item in a training session.

    `SequentialRules(window=1, weighting="one")`: the 20-line count baseline that a session
    recommender should beat.

    Args:
        across_sessions, fallback, chunk_size: see `LastItemBaseline`.
    """

    name = "successor"
    PARAMS = {"across_sessions": [False, True]}

    def __init__(self, across_sessions=False, fallback="pop", chunk_size=2048):
        super().__init__(window=1, weighting="one", prune=0, across_sessions=across_sessions, fallback=fallback,
                         chunk_size=chunk_size)
