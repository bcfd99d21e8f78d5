import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiertcn_keras.data.batcher import QueueBatcher, assign_queues
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.data.tensors import FlatTable, SessionTable


def table_from_lengths(session_lengths_per_user, max_len=4):
    """Users 1..U; each session's items are distinct ids so that we can trace every event."""
    user, item, t, session = [], [], [], []
    next_item, sid = 1, 0
    for u, lengths in enumerate(session_lengths_per_user, start=1):
        clock = 0.0
        for n in lengths:
            for _ in range(n):
                user.append(u), item.append(next_item), t.append(clock), session.append(sid)
                next_item += 1
                clock += 1.0
            clock += 10_000.0
            sid += 1
    n = len(item)
    view = EventView(np.array(user, np.int32), np.array(item, np.int32), np.array(t), np.array(session, np.int32),
                     np.zeros(n, np.int16), np.ones(n, bool), "train")
    return view


def test_worked_example_from_the_docstring():
    view = table_from_lengths([[1, 1, 1], [1], [1, 1]])
    table = SessionTable.from_view(view, 4)
    plan = QueueBatcher(table, batch_size=2, units_per_batch=2).plan()
    assert plan.tolist() == [[[0, 1], [3, 4]], [[2, -1], [5, -1]]]
    batches = list(QueueBatcher(table, 2, 2).batches())
    assert batches[0]["user_start"].tolist() == [[True, False], [True, True]]
    assert batches[1]["user_start"].tolist() == [[False, False], [False, False]]


def test_shortest_queue_ties_go_to_lowest_queue():
    queues = assign_queues(np.array([2, 2, 1, 5]), 2)
    # 2 -> q0 (tie 0:0, lowest); 2 -> q1; 1 -> q0 (tie 2:2); 5 -> q1 (q0 holds 3, q1 holds 2).
    assert [q.tolist() for q in queues] == [[0, 2], [1, 3]]


def test_shuffle_is_seeded_and_changes_per_epoch():
    view = table_from_lengths([[1]] * 30)
    table = SessionTable.from_view(view, 4)
    a, b = QueueBatcher(table, 4, 2, shuffle=True, seed=3), QueueBatcher(table, 4, 2, shuffle=True, seed=3)
    assert np.array_equal(a.plan(0), b.plan(0))
    assert not np.array_equal(a.plan(0), a.plan(1))


def test_invalid_arguments():
    table = SessionTable.from_view(table_from_lengths([[1]]), 4)
    with pytest.raises(ValueError, match="got 0"):
        QueueBatcher(table, 0, 2).plan()
    flat = FlatTable.from_view(table_from_lengths([[1]]), 4)
    with pytest.raises(ValueError, match="FlatTable"):
        QueueBatcher(flat, 2, 3)


users_strategy = st.lists(st.lists(st.integers(1, 4), min_size=1, max_size=6), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(users_strategy, st.integers(1, 5), st.integers(1, 4), st.booleans(), st.integers(0, 3))
def test_batcher_invariants(users, batch_size, slots, shuffle, epoch):
    view = table_from_lengths(users)
    table = SessionTable.from_view(view, 4)
    batcher = QueueBatcher(table, batch_size, slots, shuffle=shuffle, seed=11)
    batches = list(batcher.batches(epoch))
    items = np.stack([b["items"] for b in batches])  # [n_batches, B, S, L]
    starts = np.stack([b["user_start"] for b in batches])
    users_arr = np.stack([b["user"] for b in batches])
    # Every event exactly once (items are distinct ids 1..n): nothing lost, nothing duplicated,
    # nothing dropped at the end of the epoch.
    seen = np.sort(items[items > 0])
    assert seen.tolist() == list(range(1, len(view) + 1))
    # Per row, the sequence of sessions over the epoch: users contiguous, in order, each whole.
    per_row_users = users_arr.transpose(1, 0, 2).reshape(batch_size, -1)
    per_row_starts = starts.transpose(1, 0, 2).reshape(batch_size, -1)
    per_row_items = items.transpose(1, 0, 2, 3).reshape(batch_size, -1, 4)
    rows_of_user = {}
    for row in range(batch_size):
        u, s, it = per_row_users[row], per_row_starts[row], per_row_items[row]
        real = u > 0
        # padding only at the end of a row
        assert not (real[1:] & ~real[:-1]).any()
        ru, rs, rit = u[real], s[real], it[real]
        for k in range(len(ru)):
            rows_of_user.setdefault(ru[k], set()).add(row)
            # A reset flag exactly where a (new) user starts.
            assert rs[k] == (k == 0 or ru[k] != ru[k - 1])
        # Time order within each user: session item ids increase.
        firsts = rit[:, 0]
        for user in np.unique(ru):
            f = firsts[ru == user]
            assert (np.diff(f) > 0).all()
            assert len(f) == len(users[user - 1])
    assert all(len(r) == 1 for r in rows_of_user.values())
    assert len(rows_of_user) == len(users)


@settings(max_examples=30, deadline=None)
@given(users_strategy, st.integers(1, 4), st.integers(1, 6))
def test_flat_batcher_keeps_every_event_once(users, batch_size, max_len):
    view = table_from_lengths(users)
    table = FlatTable.from_view(view, max_len)
    batches = list(QueueBatcher(table, batch_size, 1).batches())
    items = np.concatenate([b["items"].ravel() for b in batches])
    assert np.sort(items[items > 0]).tolist() == list(range(1, len(view) + 1))
    n_user_starts = sum(int(b["user_start"].sum()) for b in batches)
    assert n_user_starts == len(users)
