"""`SessionRules`: the gap rule at its boundary, and the rules read back from a prepared config."""

import dataclasses

import numpy as np
import pytest

from hiertcn_keras.artifacts.session_rules import SessionRules, starts_session
from hiertcn_keras.data.prepare import PrepareConfig


def test_a_gap_equal_to_the_threshold_starts_a_session():
    # Events at 0, 60, 1860, 1861 with a 1800 s gap: 1860 − 60 = 1800 ≥ 1800 starts one.
    elapsed = np.diff([0.0, 60.0, 1860.0, 1861.0])
    np.testing.assert_array_equal(starts_session(elapsed, 1800.0), [False, True, False])
    assert SessionRules(session_gap=1800.0).starts_session(1800.0)
    assert not SessionRules(session_gap=1800.0).starts_session(1799.999)


def test_prepare_records_the_rules_and_they_read_back():
    prepare = PrepareConfig(session_gap=600.0, max_session_len=7, collapse_repeats=True,
                            drop_duplicates=False, min_session_len=2)
    recorded = dataclasses.asdict(prepare)  # what config.json["prepare"] holds
    rules = SessionRules.from_prepare_config(recorded)
    assert rules == prepare.session_rules
    assert rules == SessionRules(600.0, 7, True, False, 2)


def test_absent_keys_take_the_dataclass_defaults_and_column_sessions_need_a_gap():
    assert SessionRules.from_prepare_config({"max_session_len": 5}) == SessionRules(max_session_len=5)
    column = {"sessions": "column", "session_gap": 900.0}
    with pytest.raises(ValueError, match="session_gap"):
        SessionRules.from_prepare_config(column)
    assert SessionRules.from_prepare_config(column, by_gap=False).session_gap == 900.0
    assert SessionRules.from_prepare_config(column, session_gap=60).session_gap == 60.0
