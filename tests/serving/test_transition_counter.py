"""`TransitionCounter`: live within-session pair counts, exact at recent query times; `merge_boosts`."""

import numpy as np
import pytest

from hiertcn_keras.serving.transition_counter import TransitionCounter, merge_boosts


def as_lists(result):
    return [x.tolist() for x in result[:2]]


def test_counts_before_a_time_and_now():
    counter = TransitionCounter(n_items=6)
    assert counter.add([1, 1, 2, 0, 1, 3], [2, 2, 3, 4, 6, 1], [10.0, 20.0, 30.0, 5.0, 40.0, 50.0]) == 4
    # (0 → 4): no previous item, skipped; (1 → 6): 6 is outside the counted items, skipped.
    assert as_lists(counter.successors(1, 15.0)) == [[2], [1]]
    assert as_lists(counter.successors(1, 20.0)) == [[2], [1]]  # the pair at 20 itself does not count
    assert as_lists(counter.successors(1)) == [[2], [2]]  # now: every pair
    assert as_lists(counter.successors(3, 50.0)) == [[], []] and as_lists(counter.successors(3)) == [[1], [1]]
    assert as_lists(counter.successors(0)) == [[], []] and as_lists(counter.successors(5)) == [[], []]
    indices, values, exact = counter.offsets(2.0, 1)
    assert indices.tolist() == [2] and values.dtype == np.float32 and exact
    np.testing.assert_allclose(values, [2.0 * np.log1p(2)], rtol=1e-6)
    assert counter.report() == {"pairs": 4, "items_with_successors": 3, "distinct_pairs": 3, "newest": 50.0,
                                "lookback_seconds": 3600.0}


def test_late_pairs_and_the_lookback_horizon():
    counter = TransitionCounter(n_items=5, lookback_seconds=100.0)
    counter.add([1], [2], [1000.0])
    counter.add([1], [3], [950.0])  # late, but within the lookback: kept with its time
    assert as_lists(counter.successors(1, 960.0)) == [[3], [1]]
    assert counter.successors(1, 960.0)[2]  # exact: 960 ≥ 1000 − 100
    counter.add([2], [4], [5000.0])  # the newest moves on: the old pairs lose their times, not their counts
    assert as_lists(counter.successors(1)) == [[2, 3], [1, 1]]
    indices, counts, exact = counter.successors(1, 960.0)
    assert not exact  # before the horizon: the pair at 1000 can no longer be told apart
    assert counter.add([1], [2], [10.0]) == 1 and as_lists(counter.successors(1)) == [[2, 3], [2, 1]]


def test_bad_arguments():
    counter = TransitionCounter(n_items=5)
    with pytest.raises(ValueError, match="differ in length"):
        counter.add([1, 2], [2], [1.0])
    with pytest.raises(ValueError, match="finite"):
        counter.add([1], [2], [float("nan")])
    with pytest.raises(ValueError, match="lookback_seconds"):
        TransitionCounter(5, lookback_seconds=-1)


def test_merge_boosts_sums_the_offsets_of_shared_items():
    merged = merge_boosts((np.array([3, 1]), np.array([0.5, 1.0], np.float32)), None,
                          (np.array([1, 4]), np.array([2.0, 0.25], np.float32)))
    assert merged[0].tolist() == [1, 3, 4] and merged[1].tolist() == [3.0, 0.5, 0.25]
    single = (np.array([2]), np.array([1.0], np.float32))
    assert merge_boosts(None, single) is single and merge_boosts(None, None) is None
