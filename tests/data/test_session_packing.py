"""PackedSessionTable: the queue plan's sessions laid end to end in each row, every event kept once."""

import numpy as np
import pytest

from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.data.session_packing import ROW_BUCKETS, PackedSessionTable, padded_table, row_width
from hiertcn_keras.data.tensors import FlatTable, SessionTable


def _view(lengths_by_user, seed=0):
    """A view whose user u has sessions of the given lengths; items 1.. in order (distinct)."""
    user, session, item = [], [], []
    for u, lengths in enumerate(lengths_by_user):
        for s, n in enumerate(lengths):
            user += [u] * n
            session += [s] * n
    item = np.arange(1, len(user) + 1)
    score = np.random.default_rng(seed).random(len(user)) > 0.2
    return EventView.from_arrays(user, item, session, score=score)


def test_worked_example_of_the_module_docstring():
    table = PackedSessionTable(SessionTable.from_view(_view([[3, 1], [2]]), 4), slots=2)
    batch = table.gather(np.array([[0, 1], [2, -1]]))  # a = 1 2 3, b = 4, c = 5 6
    np.testing.assert_array_equal(batch["items"], [[1, 2, 3, 0, 0, 0, 0, 0], [4, 5, 6, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(batch["inputs"], [[0, 1, 2, 0, 0, 0, 0, 0], [0, 0, 5, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(batch["segment_start"], [[1, 0, 0, 1, 1, 1, 1, 1], [1, 1, 0, 1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(batch["slot"], [[0, 0, 0, 0, 0, 0, 0, 0], [1, 2, 2, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(batch["mask"][:, :4], [[1, 1, 1, 0], [1, 1, 1, 0]])
    np.testing.assert_array_equal(batch["session_mask"], [[1, 1], [1, 0]])
    np.testing.assert_array_equal(batch["user_start"], [[1, 0], [1, 0]])


def test_every_event_of_the_padded_batch_once_with_its_input_slot_and_session_start():
    lengths = [[1, 4, 2], [3], [1, 1, 1, 1, 5], [2, 2], [6, 1], [1]]
    sessions = SessionTable.from_view(_view(lengths), 6)
    packed = PackedSessionTable(sessions, slots=3)
    plan = QueueBatcher(sessions, 3, 3, shuffle=True, seed=1).plan(0)
    assert np.array_equal(QueueBatcher(packed, 3, 3, shuffle=True, seed=1).plan(0), plan)
    for index in plan:
        pad, pack = sessions.gather(index), packed.gather(index)
        pad_event, pack_event = sessions.events_of(index), packed.events_of(index)
        np.testing.assert_array_equal(pack_event >= 0, pack["mask"])
        assert sorted(pack_event[pack["mask"]]) == sorted(pad_event[pad["mask"]])  # each event once
        where = {int(e): k for k, e in zip(zip(*np.nonzero(pad["mask"])), pad_event[pad["mask"]])}
        for b, t in zip(*np.nonzero(pack["mask"])):
            row, s, pos = where[int(pack_event[b, t])]
            for key in ("items", "inputs", "score"):
                assert pack[key][b, t] == pad[key][row, s, pos], key
            assert pack["slot"][b, t] == row * 3 + s
            assert pack["segment_start"][b, t] == (pos == 0)
        for key in ("session_mask", "user_start", "gap", "user"):
            np.testing.assert_array_equal(pack[key], pad[key])


def test_sessions_are_spread_so_the_rows_are_even():
    # Queue row 0 holds 3 sessions of 16 events, row 1 one event: spread, the rows hold 32 and 17.
    sessions = SessionTable.from_view(_view([[16, 16, 16], [1]]), 16)
    batch = PackedSessionTable(sessions, slots=3).gather(np.array([[0, 1, 2], [3, -1, -1]]))
    assert sorted(batch["mask"].sum(axis=1).tolist()) == [17, 32]
    assert batch["items"].shape == (2, 32)  # the padded layout is [2, 3, 16]: 96 positions, now 64


def test_row_width_is_a_bucket_at_least_the_longest_row_and_at_most_the_padded_width():
    assert row_width(0, 200) == 32 and row_width(32, 200) == 32 and row_width(33, 200) == 48
    assert row_width(41, 200) == 48 and row_width(49, 200) == 64 and row_width(150, 200) == 192
    assert row_width(195, 200) == 200  # capped at S·L
    assert row_width(5, 4) == 5  # never below the longest row
    assert row_width(1000, 10_000) == 1024  # past the table: multiples of its last step
    widths = {row_width(n, 200) for n in range(201)}
    assert widths <= set(ROW_BUCKETS) | {200} and len(widths) == 7  # a bounded set of shapes


def test_all_padding_and_the_element_spec():
    packed = PackedSessionTable(SessionTable.from_view(_view([[2, 3]]), 3), slots=2)
    batch = packed.gather(np.full((4, 2), -1))
    assert not batch["mask"].any() and not batch["session_mask"].any()
    assert batch["items"].shape == (4, 6)  # the smallest bucket, capped at S·L = 6
    spec = QueueBatcher(packed, 4, 2).element_spec()
    assert spec["items"] == ((4, None), np.dtype("int32")) and spec["gap"][0] == (4, 2)


def test_padded_table_and_bad_arguments():
    sessions = SessionTable.from_view(_view([[2]]), 2)
    assert padded_table(PackedSessionTable(sessions, 2)) is sessions
    assert padded_table(sessions) is sessions
    with pytest.raises(TypeError, match="needs a SessionTable, got FlatTable"):
        PackedSessionTable(FlatTable.from_view(_view([[2]]), 4), 2)
    with pytest.raises(ValueError, match="slots must be ≥ 1, got 0"):
        PackedSessionTable(sessions, 0)
