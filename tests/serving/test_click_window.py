"""`ClickWindow`: the live click counts equal a brute-force count, stay bounded, and are thread-safe."""

import threading

import numpy as np
import pytest

from hiertcn_keras.serving.click_window import ClickWindow


def brute(items, times, n_items, t, seconds, inclusive=False):
    """Clicks per item in `[t − seconds, t)` (`[…, t]` when `inclusive`), by scanning every event."""
    items, times = np.asarray(items), np.asarray(times)
    inside = (times >= t - seconds) & ((times <= t) if inclusive else (times < t))
    return np.bincount(items[inside], minlength=n_items)


def test_counts_equal_a_brute_force_count_at_any_query_time():
    """Events arrive slightly out of time order (late by up to 5 minutes, within the lookback),
    several at the same time; queries at arbitrary times in the answerable range, at event times
    exactly (the event itself must not count), and `None` (now, inclusive)."""
    rng = np.random.default_rng(0)
    n_items, hours = 30, 1.0
    window = ClickWindow(n_items, hours, buckets=16, lookback_seconds=900.0)
    times = np.sort(rng.integers(0, 4 * 3600, 3000)).astype(np.float64)  # integer seconds: many equal times
    times = np.repeat(times, rng.integers(1, 3, len(times)))[:3000]
    items = rng.integers(1, n_items, len(times))
    arrival = np.argsort(times + rng.uniform(0, 300, len(times)), kind="stable")  # late by < 5 min
    seen_items, seen_times = [], []
    for chunk in np.array_split(arrival, 300):
        window.add(items[chunk], times[chunk])
        seen_items.extend(items[chunk])
        seen_times.extend(times[chunk])
        newest = max(seen_times)
        for t in (newest, newest - 600.0, newest + 1234.5, float(rng.choice(seen_times[-50:])), None):
            if t is not None and t < window.horizon():
                continue
            expected = brute(seen_items, seen_times, n_items, newest if t is None else t, 3600.0, t is None)
            np.testing.assert_array_equal(window.dense_counts(t), expected)
    assert window.too_old == 0
    assert len(window) < len(times) / 2  # old buckets were dropped: only the last 1.25 h (+ a bucket) is kept


def test_memory_is_the_last_hours_and_old_events_are_counted_not_kept():
    window = ClickWindow(5, 1.0, buckets=4, lookback_seconds=0.0)  # buckets of 900 s
    for k in range(100):
        window.add([1 + k % 4], [k * 100.0])  # 100 s apart, 9,900 s in all
    # Kept: the buckets that end after 9,900 − 3,600 = 6,300 s: [5,400, 6,300) is dropped, so
    # the events from 6,300 s on: 37 of them.
    assert len(window) == 37
    assert window.add([1, 2], [10.0, 9_950.0]) == 1 and window.too_old == 1
    indices, counts, exact = window.counts_at(None)
    assert exact and counts.sum() == 37 and set(indices) <= {1, 2, 3, 4}
    assert not window.counts_at(5_000.0)[2]  # before the horizon: forgotten clicks would have counted


def test_hot_items_are_those_with_clicks_in_the_window_and_the_list_is_compacted():
    window = ClickWindow(1000, 1.0, buckets=8, lookback_seconds=0.0)
    window.add(np.arange(1, 501), np.zeros(500))
    window.add([7], [3 * 3600.0])  # everything before 2 h − a bucket leaves
    indices, counts, _ = window.counts_at(None)
    assert indices.tolist() == [7] and counts.tolist() == [1]
    assert len(window._hot) == 1  # compacted on the query: no O(C) or O(old items) work left


def test_items_outside_the_counted_range_and_bad_input():
    window = ClickWindow(4, 2.0)
    assert window.add([0, 4, 9, 3], [1.0, 1.0, 1.0, 1.0]) == 1  # padding and out-of-range indices ignored
    assert window.dense_counts(2.0).tolist() == [0, 0, 0, 1]
    with pytest.raises(ValueError, match="finite"):
        window.add([1], [float("nan")])
    with pytest.raises(ValueError, match="length"):
        window.add([1, 2], [1.0])
    with pytest.raises(ValueError, match="hours"):
        ClickWindow(4, 0.0)


def test_offsets_are_beta_log1p_in_float32_as_the_evaluation_computes_them():
    window = ClickWindow(6, 1.0)
    window.add([1, 2, 2, 5], [0.0, 1.0, 2.0, 3.0])
    indices, values, exact = window.offsets(2.5, 10.0)
    assert indices.tolist() == [1, 2, 5] and exact and values.dtype == np.float32
    np.testing.assert_array_equal(values, 2.5 * np.log1p(np.array([1, 2, 1], np.float32)))


def test_concurrent_adds_and_queries_lose_nothing():
    window = ClickWindow(50, 24.0)
    rng = np.random.default_rng(1)
    batches = [(rng.integers(1, 50, 10), rng.uniform(0, 3600, 10)) for _ in range(400)]
    errors = []

    def worker(part):
        try:
            for items, times in part:
                window.add(items, times)
                window.counts_at(None)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(batches[k::4],)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    items = np.concatenate([b[0] for b in batches])
    np.testing.assert_array_equal(window.dense_counts(None), np.bincount(items, minlength=50))
