"""`prepare_heldout`: a held-out log prepared with a run's vocabulary and session settings."""

import numpy as np
import pandas as pd
import pytest

from hiertcn_keras.data.heldout import prepare_heldout

SETTINGS = {"session_gap": 100.0, "max_session_len": 2, "min_session_len": 1, "drop_duplicates": True,
            "collapse_repeats": False, "sessions": "gap"}


def test_counts_and_sessions_are_the_expected_ones():
    rows = [("u1", "a", 0), ("u1", "b", 10), ("u1", "zzz", 20), ("u1", "b", 10), ("u1", "c", 30),
            ("u1", "d", 500), ("u1", "a", 510), ("u2", "yyy", 0), ("u2", "c", 5)]
    events = pd.DataFrame(rows, columns=["user", "item", "timestamp"]).assign(row=range(len(rows)))
    held = prepare_heldout(events, ["a", "b", "c", "d"], 3, SETTINGS)  # d: vocabulary, not catalogue
    report = held.report
    assert (report["rows"], report["unknown_item_events"], report["unknown_item_ids"]) == (9, 2, 2)
    assert sorted(report["unknown_item_examples"]) == ["yyy", "zzz"]
    assert (report["duplicates"], report["session_truncated"], report["events"]) == (1, 1, 5)
    assert (report["not_scored_outside_catalogue"], report["scored"], report["users"]) == (1, 4, 2)
    assert report["coverage"] == pytest.approx(7 / 9)
    view = held.view("test")
    assert view.item.tolist() == [1, 2, 4, 1, 3]  # u1: [a, b] (c truncated), [d, a]; u2: [c]
    assert view.position.tolist() == [0, 1, 0, 1, 0]
    assert view.score.tolist() == [True, True, False, True, True]
    assert len(np.unique(view.session)) == 3
    with pytest.raises(ValueError, match="only the test split"):
        held.view("valid")


def test_a_session_column_dataset_is_refused():
    events = pd.DataFrame({"user": ["u"], "item": ["a"], "timestamp": [0.0]})
    with pytest.raises(ValueError, match="session column"):
        prepare_heldout(events, ["a"], 1, {**SETTINGS, "sessions": "column"})
