import numpy as np
import pytest

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.recent_popularity import RecentPopularity

H = 3600.0
# Training: user 1 clicks 1 at 0 h and 2 at 1.5 h; user 2 clicks 1 at 1 h. Popularity 2, 1, 0, 0
# → tie-break c / 3: 2/3, 1/3, 0, 0.
TRAIN = EventView.from_arrays([1, 1, 2], [1, 2, 1], [0, 0, 1], timestamp=np.array([0, 1.5, 1]) * H, split="train")
# Test view (temporal protocol): user 2's training click again, then 3 at 2 h and 2 at 2.5 h;
# user 3 clicks 4 at 2 h.
VIEW = EventView.from_arrays([2, 2, 2, 3], [1, 3, 2, 4], [1, 2, 2, 3], timestamp=np.array([1, 2, 2.5, 2]) * H)


def fit(**kwargs):
    return RecentPopularity(**kwargs).fit(TRAIN, 5, 4)


def test_worked_example():
    got = fit(hours=1.0).scores(VIEW, [1, 2, 3])[:, 1:]
    np.testing.assert_allclose(got, [
        # 2 h: window [1 h, 2 h) holds user 2's click on 1 (once, though both views have it)
        # and user 1's click on 2; the clicks at 2 h itself are not before the event.
        [1 + 2 / 3, 1 + 1 / 3, 0, 0],
        # 2.5 h: [1.5 h, 2.5 h) holds 2 (user 1), 3 (user 2) and 4 (user 3, another user).
        [2 / 3, 1 + 1 / 3, 1, 1],
        # user 3 at 2 h: the same window as user 2 at 2 h.
        [1 + 2 / 3, 1 + 1 / 3, 0, 0],
    ], rtol=1e-6)
    # A 3-hour window at 2.5 h: every click before it: item 1 twice (0 h, 1 h), 2, 3 and 4 once.
    np.testing.assert_allclose(fit(hours=3.0).scores(VIEW, [2])[0, 1:], [2 + 2 / 3, 1 + 1 / 3, 1, 1], rtol=1e-6)


def test_causal_and_chunk_invariant():
    rng = np.random.default_rng(0)
    n = 60
    users = np.sort(rng.integers(1, 6, n))
    ts = np.empty(n)
    for u in np.unique(users):
        rows = users == u
        ts[rows] = np.sort(rng.integers(0, 40, rows.sum())) * 600.0
    items = rng.integers(1, 7, n)
    view = EventView.from_arrays(users, items, np.arange(n), timestamp=ts)
    model = RecentPopularity(hours=1.0).fit(TRAIN, 7, 6)
    events = np.arange(n)
    whole = model.scores(view, events)
    model.chunk_size = 7
    np.testing.assert_allclose(model.scores(view, events), whole, rtol=1e-6)
    # Changing every event at or after an event's time leaves its scores unchanged.
    target = 30
    changed_items = np.where(ts >= ts[target], rng.integers(1, 7, n), items)
    changed = EventView.from_arrays(users, changed_items, np.arange(n), timestamp=ts)
    np.testing.assert_array_equal(RecentPopularity(hours=1.0).fit(TRAIN, 7, 6).scores(changed, [target]),
                                  whole[[target]])


def test_errors():
    with pytest.raises(ValueError, match="hours must be > 0"):
        RecentPopularity(hours=0)
