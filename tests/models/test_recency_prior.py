"""The recency prior: beta · log1p(clicks in the window strictly before each event)."""

import types

import numpy as np
import pytest

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.recency_prior import RecencyPrior, prior_of

H = 3600.0
TRAIN = EventView.from_arrays([1, 1, 2], [1, 2, 1], [0, 0, 1], timestamp=np.array([0, 1.5, 1]) * H, split="train")
DATASET = types.SimpleNamespace(view=lambda split: TRAIN, n_items=5, n_catalogue=4)


def test_log_counts_are_the_window_clicks_strictly_before_the_event():
    # Test view: user 2 clicks 3 at 2 h and 2 at 2.5 h; user 3 clicks 4 at 2 h.
    view = EventView.from_arrays([2, 2, 3], [3, 2, 4], [2, 2, 3], timestamp=np.array([2, 2.5, 2]) * H)
    prior = RecencyPrior(hours=1.0, beta=2.0).fit(DATASET)
    got = prior.log_counts(view, [0, 1, 2])
    # 2 h: [1 h, 2 h) holds item 1 (user 2) and item 2 (user 1); the clicks at 2 h do not count.
    # 2.5 h: [1.5 h, 2.5 h) holds item 2 (1.5 h), 3 and 4 (both at 2 h).
    np.testing.assert_allclose(got, np.log1p([[0, 1, 1, 0, 0], [0, 0, 1, 1, 1], [0, 1, 1, 0, 0]]), rtol=1e-6)
    np.testing.assert_allclose(prior.offsets(view, [1]), 2.0 * got[[1]], rtol=1e-6)


def test_no_leak_changing_the_event_and_anything_later_changes_nothing():
    rng = np.random.default_rng(1)
    n = 50
    users = np.sort(rng.integers(1, 5, n))
    ts = np.concatenate([np.sort(rng.integers(0, 30, (users == u).sum())) * 600.0 for u in np.unique(users)])
    items = rng.integers(1, 5, n)
    target = 25
    changed = np.where(ts >= ts[target], rng.integers(1, 5, n), items)
    prior = RecencyPrior(hours=2.0).fit(DATASET)
    before = prior.log_counts(EventView.from_arrays(users, items, np.arange(n), timestamp=ts), [target])
    after = RecencyPrior(hours=2.0).fit(DATASET).log_counts(
        EventView.from_arrays(users, changed, np.arange(n), timestamp=ts), [target])
    np.testing.assert_array_equal(before, after)


def test_prior_of_a_config_and_its_checks():
    base = ModelConfig(n_items=5, n_catalogue=4)
    assert prior_of(base, DATASET) is None
    assert prior_of(base.replace(recency_prior=True), DATASET) is None  # window and weight not chosen yet
    assert prior_of(base.replace(recency_prior=True, recency_hours=1.0, recency_beta=0.0), DATASET) is None
    chosen = prior_of(base.replace(recency_prior=True, recency_hours=3.0, recency_beta=0.5), DATASET)
    assert (chosen.hours, chosen.beta) == (3.0, 0.5)
    with pytest.raises(ValueError, match="need recency_prior"):
        base.replace(recency_beta=1.0)
    with pytest.raises(ValueError, match="recency_hours"):
        base.replace(recency_prior=True, recency_hours=0.0)
    with pytest.raises(ValueError, match="beta must be"):
        RecencyPrior(1.0, beta=-1.0)


def test_a_held_out_log_counts_only_its_own_earlier_clicks():
    view = EventView.from_arrays([2, 3], [3, 3], [2, 3], timestamp=np.array([2, 2.5]) * H)

    def test_only(split):
        if split != "test":
            raise ValueError("a held-out log has only the test split")
        return view

    prior = RecencyPrior(hours=1.0).fit(types.SimpleNamespace(view=test_only), n_items=5, n_catalogue=4)
    np.testing.assert_allclose(prior.log_counts(view, [0, 1]), np.log1p([[0, 0, 0, 0, 0], [0, 0, 0, 1, 0]]))
