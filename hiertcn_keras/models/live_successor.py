"""Successor counts kept live: the transition prior's counts as a baseline of their own.

`successor` (`sequential_rules.SuccessorCounts`) counts how often `c` directly followed the
previous item in *training* sessions. A live system keeps counting: `LiveSuccessorCounts`
scores an event at time `t` by the pairs "c directly followed i" (i = the previous event of the
same session) of the training split **and** of the scored view, every user's, strictly before
`t` — exactly the counts of the transition prior (`models/transition_prior.py`), nothing at or
after the event. It is the count baseline with the same information as a model with the
transition prior (`MODEL + priors` rows), so the gain of the hybrid over counting alone can be
read fairly. Like `successor`, items without a pair (and every candidate at a session's first
event) are ordered by training popularity, below any item with a pair.
"""

from __future__ import annotations

from hiertcn_keras.models.baseline_base import SimpleBaseline
from hiertcn_keras.models.last_item import apply_fallback, popularity_fallback
from hiertcn_keras.models.transition_prior import TransitionPrior


class LiveSuccessorCounts(SimpleBaseline):
    """How often each item directly followed the previous item, in every session before the event.

    Worked example: training session [1, 2]; scored view, user B: [1, 3] at times 5, 6; user C:
    [1, ?] at time 7. C's event is scored with 1 → 2 once (training) and 1 → 3 once (B's pair
    at 6 < 7): items 2 and 3 score 1, the others their popularity fallback.

    Args:
        chunk_size: int. Events per step. Defaults to 2048.
    """

    name = "livesuccessor"
    PARAMS = {}

    def _fit(self, train_view, item_vectors):
        self._counts = TransitionPrior().fit_view(train_view, self.n_catalogue)
        self._fallback = popularity_fallback(train_view, self.n_catalogue)

    def _score_chunk(self, view, events):
        counts = self._counts.counts(view, events)[:, 1:]
        return apply_fallback(counts, self._fallback)
