"""The transition prior: gamma · log1p(times c directly followed the current item, strictly before the event)."""

import types

import numpy as np
import pytest

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.transition_prior import TransitionPrior, current_items, transition_prior_of

# Training: user 1, session 0: 1 → 2 → 3 (t 0, 1, 2); session 1: 1 → 2 (t 10, 11).
# User 2, session 2: 3 → 1 (t 5, 6). Pairs: 1→2 at 1 and 11, 2→3 at 2, 3→1 at 6.
TRAIN = EventView.from_arrays([1, 1, 1, 1, 1, 2, 2], [1, 2, 3, 1, 2, 3, 1], [0, 0, 0, 1, 1, 2, 2],
                              timestamp=[0, 1, 2, 10, 11, 5, 6], split="train")
DATASET = types.SimpleNamespace(view=lambda split: TRAIN, n_items=6, n_catalogue=4)


def test_counts_are_the_pairs_of_the_current_item_strictly_before_the_event():
    # Test view (temporal: it repeats user 1's training events), then new events:
    # user 1, session 3: 1 (t 20) → 3 (t 21) → 2 (t 30); user 3 (another user), session 4:
    # 1 (t 21) → 2 (t 25); user 3's next event 2 (t 40) is in session 5 (a new session).
    view = EventView.from_arrays(
        [1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3], [1, 2, 3, 1, 2, 1, 3, 2, 1, 2, 2], [0, 0, 0, 1, 1, 3, 3, 3, 4, 4, 5],
        timestamp=[0, 1, 2, 10, 11, 20, 21, 30, 21, 25, 40])
    prior = TransitionPrior(gamma=2.0).fit(DATASET)
    events = [5, 6, 7, 9, 10, 1]
    got = prior.counts(view, events)
    expected = np.zeros((6, 5))
    # 5: first of its session: no current item, 0 everywhere.
    expected[1, 2] = 2  # 6: current 1 at t 21; 1→2 twice before (t 1, 11; the repeated training pairs once);
    #                     the pair 1→3 of this very event (t 21) and user 3's pair at 25 do not count.
    expected[2, 1] = 1  # 7: current 3 at t 30: 3→1 (t 6); 3→2 happens at 30 itself: not counted.
    expected[3, 2] = 2  # 9: user 3, current 1 at t 25: 1→2 at 1 and 11, and user 1's 1→3 at 21:
    expected[3, 3] = 1  #    another user's earlier pairs count (everyone's, as a live system sees them).
    # 10: user 3 starts a new session at t 40: no current item (the user's previous event is in another session).
    expected[5, 3] = 0  # 1: the view's second event at t 1: current 1, nothing happened before t 1.
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(prior.offsets(view, events), 2.0 * np.log1p(expected), rtol=1e-6)
    assert current_items(view, events).tolist() == [0, 1, 3, 1, 0, 1]


def test_a_user_boundary_is_a_session_boundary():
    # Users 1 and 2 share a session id: user 2's first event has no current item, and no pair
    # crosses from user 1's last event to it.
    view = EventView.from_arrays([1, 1, 2, 2], [3, 1, 2, 3], [7, 7, 7, 7], timestamp=[100, 101, 102, 103])
    prior = TransitionPrior().fit(DATASET)
    assert current_items(view, [1, 2, 3]).tolist() == [3, 0, 2]
    got = prior.counts(view, [2, 3])
    assert not got[0].any()  # 1 → 2 would be the cross-user pair: nothing counts at a user start
    assert got[1].tolist() == [0, 0, 0, 1, 0]  # current 2: 2→3 once (t 2)


def test_no_leak_changing_the_event_and_anything_later_changes_nothing():
    rng = np.random.default_rng(1)
    n = 60
    users = np.sort(rng.integers(1, 5, n))
    ts = np.concatenate([np.sort(rng.integers(0, 30, (users == u).sum())) * 600.0 for u in np.unique(users)])
    sessions = users * 10 + (ts // 6000).astype(int)
    items = rng.integers(1, 5, n)
    target = int(np.flatnonzero((np.arange(n) > 0) & (sessions == np.roll(sessions, 1)))[n // 4])
    changed = np.where(ts >= ts[target], rng.integers(1, 5, n), items)
    changed[target - 1] = items[target - 1]  # the current item stays (it is before the event)
    before = TransitionPrior().fit(DATASET).counts(EventView.from_arrays(users, items, sessions, timestamp=ts), [target])
    after = TransitionPrior().fit(DATASET).counts(EventView.from_arrays(users, changed, sessions, timestamp=ts), [target])
    np.testing.assert_array_equal(before, after)
    assert before.sum() > 0  # the event has counted pairs: the test can fail


def test_counts_equal_a_loop_over_pairs_on_a_random_log():
    # Coarse times: many events share a timestamp with other users' pairs (ties: never counted).
    rng = np.random.default_rng(4)
    n = 300
    users = np.sort(rng.integers(1, 8, n))
    ts = np.concatenate([np.sort(rng.integers(0, 50, (users == u).sum())) * 60.0 for u in np.unique(users)])
    sessions = users * 100 + (ts // 900).astype(int)
    items = rng.integers(1, 7, n)  # items 5 and 6 lie outside the catalogue of 4
    view = EventView.from_arrays(users, items, sessions, timestamp=ts)
    empty = types.SimpleNamespace(view=lambda split: EventView.from_arrays([], [], [], timestamp=np.zeros(0)),
                                  n_items=7, n_catalogue=4)
    got = TransitionPrior().fit(empty).counts(view, np.arange(n))
    same = (users[1:] == users[:-1]) & (sessions[1:] == sessions[:-1])
    pairs = [(items[j - 1], items[j], ts[j]) for j in np.flatnonzero(same) + 1]
    for e in range(n):
        expected = np.zeros(5)
        if e and same[e - 1]:
            for a, b, t in pairs:
                if a == items[e - 1] and b <= 4 and t < ts[e]:
                    expected[b] += 1
        np.testing.assert_array_equal(got[e], expected, err_msg=f"event {e}")
    assert got.sum() > 50


def test_no_pair_anywhere_counts_nothing():
    empty = types.SimpleNamespace(view=lambda split: EventView.from_arrays([], [], [], timestamp=np.zeros(0)),
                                  n_items=6, n_catalogue=4)
    view = EventView.from_arrays([1, 2], [1, 2], [0, 1], timestamp=[0, 1])  # two one-event sessions
    assert not TransitionPrior().fit(empty).counts(view, [0, 1]).any()


def test_transition_prior_of_a_config_and_its_checks():
    base = ModelConfig(n_items=6, n_catalogue=4)
    assert transition_prior_of(base, DATASET) is None
    assert transition_prior_of(base.replace(transition_prior=True), DATASET) is None  # weight not chosen yet
    assert transition_prior_of(base.replace(transition_prior=True, transition_gamma=0.0), DATASET) is None
    assert transition_prior_of(base.replace(transition_prior=True, transition_gamma=0.5), DATASET).gamma == 0.5
    with pytest.raises(ValueError, match="need"):
        base.replace(transition_gamma=1.0)
    with pytest.raises(ValueError, match="transition_gamma"):
        base.replace(transition_prior=True, transition_gamma=-1.0)
    with pytest.raises(ValueError, match="gamma must be"):
        TransitionPrior(gamma=float("nan"))
