import numpy as np
import pytest

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.data.tensors import FlatTable, SessionTable, gather_rows


def view_of(user, item, t, session, score=None):
    n = len(item)
    return EventView(
        user=np.array(user, np.int32), item=np.array(item, np.int32), timestamp=np.array(t, float),
        session=np.array(session, np.int32), position=np.zeros(n, np.int16),
        score=np.ones(n, bool) if score is None else np.array(score, bool), split="test",
    )


@pytest.fixture
def view():
    # user 1: sessions [5 6 7] (t 0,1,2) and [8] (t 5000); user 2: session [9 5] (t 10, 20).
    return view_of([1, 1, 1, 1, 2, 2], [5, 6, 7, 8, 9, 5], [0, 1, 2, 5000, 10, 20], [0, 0, 0, 1, 2, 2],
                   score=[0, 0, 0, 1, 1, 1])


def test_session_table_rows_inputs_and_flags(view):
    table = SessionTable.from_view(view, max_session_len=4)
    assert table.items[:3].tolist() == [[5, 6, 7, 0], [8, 0, 0, 0], [9, 5, 0, 0]]
    assert table.items[3].tolist() == [0, 0, 0, 0]  # the padding row
    assert table.user_start.tolist() == [True, False, True, False]
    assert table.gap.tolist() == [0.0, 4998.0, 0.0, 0.0]  # 5000 - 2
    batch = table.gather(np.array([[0, 1], [2, -1]]))
    # Inputs: start token 0, then the previous items of the same session; padding stays 0.
    assert batch["inputs"][0].tolist() == [[0, 5, 6, 0], [0, 0, 0, 0]]
    assert batch["inputs"][1].tolist() == [[0, 9, 0, 0], [0, 0, 0, 0]]
    assert batch["session_mask"].tolist() == [[True, True], [True, False]]
    assert batch["score"][0, 0].tolist() == [False] * 4 and batch["score"][0, 1, 0]
    assert batch["user"].tolist() == [[1, 1], [2, 0]]


def test_user_tensors_pads_to_slots(view):
    table = SessionTable.from_view(view, max_session_len=4)
    t = table.user_tensors(1, n_slots=3)
    assert t["items"].shape == (3, 4) and t["session_mask"].tolist() == [True, True, False]
    with pytest.raises(ValueError, match="n_slots=1"):
        table.user_tensors(1, n_slots=1)
    with pytest.raises(KeyError):
        table.user_tensors(7)


def test_session_longer_than_l_is_refused(view):
    with pytest.raises(ValueError, match="max_session_len is 2"):
        SessionTable.from_view(view, max_session_len=2)


def test_flat_table_chunks_carry_previous_item(view):
    table = FlatTable.from_view(view, max_len=3)
    # user 1 has 4 events -> chunks [5 6 7] and [8 . .]; user 2 -> [9 5 .].
    assert table.items[:3].tolist() == [[5, 6, 7], [8, 0, 0], [9, 5, 0]]
    assert table.inputs[:3].tolist() == [[0, 5, 6], [7, 0, 0], [0, 9, 0]]
    assert table.user_start[:3].tolist() == [True, False, True]
    assert table.session_start[:3].tolist() == [[True, False, False], [True, False, False], [True, False, False]]
    batch = table.gather(np.array([[1], [-1]]))
    assert batch["items"].shape == (2, 3) and batch["user"].tolist() == [1, 0]


def test_flat_and_hierarchical_hold_the_same_scored_events(view):
    s = SessionTable.from_view(view, 4)
    f = FlatTable.from_view(view, 2)
    assert sorted(s.items[s.score].tolist()) == sorted(f.items[f.score].tolist()) == [5, 8, 9]


def test_gather_rows_takes_items_inputs_mask_then_the_named_fields_in_order():
    class Table:
        items = np.array([[3, 4], [5, 0], [0, 0]])
        inputs = np.array([[0, 3], [4, 0], [0, 0]])
        user = np.array([7, 8, 0])

    batch = gather_rows(Table, np.array([[1], [2]]), ("user",))
    assert list(batch) == ["items", "inputs", "mask", "user"]
    assert batch["items"].tolist() == [[[5, 0]], [[0, 0]]]
    assert batch["inputs"].tolist() == [[[4, 0]], [[0, 0]]]
    assert batch["mask"].tolist() == [[[True, False]], [[False, False]]]
    assert batch["user"].tolist() == [[8], [0]]
