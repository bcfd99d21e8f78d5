"""The causal recency-popularity prior: what everyone clicked in the last hours, as a logit offset.

On a news log the next click is mostly an article that many people are clicking right now (the
`recentpop` baseline alone beats every sequence model on the Globo.com slice). A user model
that sees one user's history cannot know that. The prior adds it to the model's scores:

    score(c | event at t) = u · v_c + b_c + beta · log1p(clicks of c in [t - hours, t))

The window counts are exactly those of `RecentPopularity` (`models/recent_popularity.py`):
every user's clicks of the training split and of the scored view, strictly before the event
(the event itself and anything at or after its timestamp never count: no leak). `beta = 0` is
the plain model. The model is trained and early-stopped without the prior; `hours` and `beta`
are then chosen on the validation split (`training/recency_choice.py`) from `HOURS` × `BETAS`,
`beta = 0` included, so the prior is only used where it helps on validation.

Where it applies: `evaluate_recommender` (test and validation metrics, `hiertcn evaluate`,
`compare`), and serving: the online recommender keeps the same counts live from the events it
accepts (`hiertcn_keras.serving.click_window`) and ranks with the same formula.
"""

from __future__ import annotations

import numpy as np

from hiertcn_keras.models.recent_popularity import RecentPopularity

# The windows (hours) and weights searched on validation; 0 keeps the plain model.
HOURS = (0.25, 1.0, 3.0, 12.0, 24.0, 168.0)
BETAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


class RecencyPrior:
    """`beta · log1p(window clicks)` of every candidate, per scored event (see the module).

    Args:
        hours: float > 0. Length of the window before each event.
        beta: float ≥ 0. Weight of the prior. Defaults to 1.

    Example:

    >>> prior = RecencyPrior(hours=1.0, beta=2.0).fit(dataset)  # doctest: +SKIP
    >>> offsets = prior.offsets(dataset.view("test"), events)     # [N, n_catalogue + 1]
    """

    def __init__(self, hours, beta=1.0):
        if not (np.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be a finite number ≥ 0, got {beta!r}")
        self.hours = float(hours)
        self.beta = float(beta)
        self._counter = RecentPopularity(hours=hours)

    def fit(self, dataset, n_items=None, n_catalogue=None):
        """Remembers the training events of a dataset (the pool before every view).

        Args:
            dataset: `PreparedDataset`, or a held-out log (`data.heldout`, test split only:
                then only the log's own earlier clicks count).
            n_items, n_catalogue: int or `None`. The model's sizes; default the dataset's.

        Returns:
            `self`.
        """
        from hiertcn_keras.data.dataset import EventView

        n_items = dataset.n_items if n_items is None else n_items
        n_catalogue = dataset.n_catalogue if n_catalogue is None else n_catalogue
        try:
            train = dataset.view("train")
        except ValueError:  # a held-out log has no training split
            train = EventView.from_arrays([], [], [], timestamp=np.zeros(0), split="train")
        self._counter.fit(train, n_items, n_catalogue)
        return self

    def log_counts(self, view, events):
        """`log1p(clicks in the window)` per candidate: float32 `[N, n_catalogue + 1]`, column 0 = 0."""
        events = np.asarray(events, dtype=np.int64)
        out = np.zeros((len(events), self._counter.n_catalogue + 1), dtype=np.float32)
        out[:, 1:] = np.log1p(self._counter.window_counts(view, events))
        return out

    def offsets(self, view, events):
        """`beta · log1p(clicks in the window)`: float32 `[N, n_catalogue + 1]`, column 0 = 0."""
        return self.beta * self.log_counts(view, events)


def prior_enabled(config):
    """Whether a `ModelConfig` applies the prior: on, with a chosen window and a weight > 0."""
    return bool(getattr(config, "recency_prior", False) and config.recency_beta and config.recency_hours is not None)


def prior_of(config, dataset):
    """The fitted `RecencyPrior` a `ModelConfig` asks for, or `None` (off, or `beta` 0 or unchosen)."""
    if not prior_enabled(config):
        return None
    return RecencyPrior(config.recency_hours, config.recency_beta).fit(dataset, config.n_items, config.n_catalogue)
