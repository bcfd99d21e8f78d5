"""Segments laid end to end: the packed flat TCN's rows and GRU4Rec's session-parallel lanes."""

import numpy as np
import pytest

from hiertcn_keras.data.batcher import assign_aligned
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.data.packing import SegmentTable, packed_batcher


def make_view(session_lengths_per_user):
    """Users 1..U; items are distinct ids 1, 2, … in event order, so every event can be traced."""
    user, session = [], []
    sid = 0
    for u, lengths in enumerate(session_lengths_per_user, start=1):
        for n in lengths:
            user += [u] * n
            session += [sid] * n
            sid += 1
    n = len(user)
    return EventView(np.array(user, np.int32), np.arange(1, n + 1, dtype=np.int32), np.arange(n, dtype=float),
                     np.array(session, np.int32), np.zeros(n, np.int16), np.ones(n, bool), "train")


def test_gru4rec_worked_example_from_the_docstring():
    # Sessions of 2, 4 and 1 events (a, b, c), each its own user here; B = 2 lanes, T = 3.
    table = SegmentTable.from_view(make_view([[2], [4], [1]]), "session")
    batches = list(packed_batcher(table, 2, 3).batches())
    assert [b["items"].tolist() for b in batches] == [[[1, 2, 7], [3, 4, 5]], [[0, 0, 0], [6, 0, 0]]]
    assert batches[0]["segment_start"].tolist() == [[True, False, True], [True, False, False]]
    # Lane 1 continues session b in the next batch: no reset at its first step (the carried
    # state goes on); padding counts as a start (nothing is carried out of it).
    assert batches[1]["segment_start"].tolist() == [[True, True, True], [False, True, True]]


def test_session_reset_mask_is_set_exactly_at_session_starts():
    """GRU4Rec's reset mask: True at every session's first event, False at every other event."""
    view = make_view([[3, 1, 5], [2, 2], [7], [1, 4, 2, 3]])
    table = SegmentTable.from_view(view, "session")
    first_of_session = np.ones(len(view), bool)
    first_of_session[1:] = view.session[1:] != view.session[:-1]
    for shuffle in (False, True):
        seen = np.zeros(len(view), int)
        for batch in packed_batcher(table, 3, 4, shuffle=shuffle, seed=1).batches(epoch=2):
            real = batch["mask"]
            event = batch["items"][real] - 1  # items are event numbers + 1
            seen[event] += 1
            np.testing.assert_array_equal(batch["segment_start"][real], first_of_session[event])
            # Inputs restart at every session: 0 at its first event, else the previous event's item.
            expected_inputs = np.where(first_of_session[event], 0, event)
            np.testing.assert_array_equal(batch["inputs"][real], expected_inputs)
        assert (seen == 1).all()  # every event exactly once


def test_lanes_keep_each_session_in_order_across_batches():
    view = make_view([[5], [2], [6], [1]])
    batcher = packed_batcher(SegmentTable.from_view(view, "session"), 2, 3)
    lanes = np.concatenate([b["items"] for b in batcher.batches()], axis=1)  # [B, all steps]
    for lane in lanes:
        real = lane[lane > 0]
        assert (np.diff(real) > 0).all()  # sessions whole and in event order, one after the other
    # shortest lane first: 5 → lane 0, 2 → lane 1, 6 → lane 1 (2 < 5), 1 → lane 0
    assert lanes[0, :6].tolist() == [1, 2, 3, 4, 5, 14]


def test_history_segments_cut_every_t_events_and_never_cross_a_row():
    view = make_view([[3, 4], [2], [9], [1, 1]])  # users of 7, 2, 9, 2 events; T = 4
    table = SegmentTable.from_view(view, "history", max_len=4)
    lengths = np.diff(table.user_ptr)
    assert lengths.tolist() == [4, 3, 2, 4, 4, 1, 2]
    new_user = np.ones(len(view), bool)
    new_user[1:] = view.user[1:] != view.user[:-1]
    seen = np.zeros(len(view), int)
    for batch in packed_batcher(table, 2, 4, shuffle=True).batches():
        for row, starts, mask in zip(batch["items"], batch["segment_start"], batch["mask"]):
            # A segment starts at step 0 of every non-empty row: nothing runs on from the last batch.
            assert not mask.any() or starts[0]
            event = row[mask] - 1
            seen[event] += 1
        real = batch["mask"]
        event = batch["items"][real] - 1
        # Inputs: the user's previous event (across sessions and chunks), 0 at the user's first.
        np.testing.assert_array_equal(batch["inputs"][real], np.where(new_user[event], 0, event))
    assert (seen == 1).all()


def test_packing_fills_rows_far_better_than_one_user_per_row():
    view = make_view([[2]] * 40)  # 40 users of 2 events, T = 10: one per row fills 20%
    batcher = packed_batcher(SegmentTable.from_view(view, "history", max_len=10), 4, 10)
    plan = batcher.plan()
    assert (plan >= 0).mean() == 1.0  # 5 users per row of 10, 2 batches of 4 rows
    assert plan.shape == (2, 4, 10)


def test_assign_aligned_pads_to_the_next_window():
    owner, offset = assign_aligned(np.array([3, 3, 2, 2]), 1, 4)
    # 3 at 0; 3 does not fit in the 1 left → 4; 2 does not fit after 7 → 8; 2 at 10.
    assert owner.tolist() == [0, 0, 0, 0] and offset.tolist() == [0, 4, 8, 10]
    with pytest.raises(ValueError, match="more than the 4"):
        assign_aligned(np.array([5]), 2, 4)


def test_invalid_arguments():
    view = make_view([[2]])
    with pytest.raises(ValueError, match="segments must be one of"):
        SegmentTable.from_view(view, "user")
    with pytest.raises(ValueError, match="max_len"):
        SegmentTable.from_view(view, "history")
    with pytest.raises(ValueError, match="do not fit rows of 4"):
        packed_batcher(SegmentTable.from_view(view, "history", max_len=5), 2, 4)
