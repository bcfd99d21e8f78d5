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
    table = PackedSessionTable(SessionTable.from_view(_view([[2, 1, 3]]), 4), slots=3)
    batch = table.gather(np.array([[0, 1, 2]]))
    np.testing.assert_array_equal(batch["items"], [[1, 2, 3, 4, 5, 6, 0, 0]])
    np.testing.assert_array_equal(batch["inputs"], [[0, 1, 0, 0, 4, 5, 0, 0]])
    np.testing.assert_array_equal(batch["segment_start"], [[1, 0, 1, 1, 0, 0, 1, 1]])
    np.testing.assert_array_equal(batch["slot"], [[0, 0, 1, 2, 2, 2, 0, 0]])
    np.testing.assert_array_equal(batch["mask"], [[1, 1, 1, 1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(batch["session_mask"], [[1, 1, 1]])
    np.testing.assert_array_equal(batch["user_start"], [[1, 0, 0]])


def test_every_event_of_the_padded_batch_in_the_same_order_with_its_slot():
    lengths = [[1, 4, 2], [3], [1, 1, 1, 1, 5], [2, 2], [6, 1], [1]]
    sessions = SessionTable.from_view(_view(lengths), 6)
    packed = PackedSessionTable(sessions, slots=3)
    plan = QueueBatcher(sessions, 3, 3, shuffle=True, seed=1).plan(0)
    assert np.array_equal(QueueBatcher(packed, 3, 3, shuffle=True, seed=1).plan(0), plan)
    for index in plan:
        pad, pack = sessions.gather(index), packed.gather(index)
        real = pad["mask"]
        for key in ("items", "inputs", "score"):  # row-major [B, S, L] order == packed [B, T] order
            np.testing.assert_array_equal(pack[key][pack["mask"]], pad[key][real])
        slot_of_padded = np.broadcast_to(np.arange(3)[None, :, None], real.shape)[real]
        np.testing.assert_array_equal(pack["slot"][pack["mask"]], slot_of_padded)
        first = np.zeros_like(real)
        first[..., 0] = real[..., 0]
        np.testing.assert_array_equal(pack["segment_start"][pack["mask"]], first[real])
        for key in ("session_mask", "user_start", "gap", "user"):
            np.testing.assert_array_equal(pack[key], pad[key])
        assert pack["items"].shape[1] == row_width(int(real.sum(axis=(1, 2)).max()), 3 * 6)


def test_row_width_is_a_bucket_at_least_the_longest_row_and_at_most_the_padded_width():
    assert row_width(0, 200) == 8 and row_width(8, 200) == 8 and row_width(9, 200) == 16
    assert row_width(41, 200) == 48 and row_width(49, 200) == 64 and row_width(150, 200) == 192
    assert row_width(195, 200) == 200  # capped at S·L
    assert row_width(5, 4) == 5  # never below the longest row
    assert row_width(1000, 10_000) == 1024  # past the table: multiples of its last step
    widths = {row_width(n, 200) for n in range(201)}
    assert widths <= set(ROW_BUCKETS) | {200} and len(widths) == 10  # a bounded set of shapes


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
