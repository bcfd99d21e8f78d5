"""The online session rule makes exactly `prepare`'s decisions (property test), and its edges.

Property: for random logs (few users, few items so repeats and exact duplicates occur, gaps
drawn around the threshold, equal timestamps), replaying each user's events in time order
through `decide`/`apply` keeps the same events, in the same sessions and positions, as
`prepare` with the same settings (truncation to L, repeat collapsing, duplicates).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hiertcn_keras.artifacts.session_rules import SessionRules
from hiertcn_keras.data.prepare import PrepareConfig, prepare
from hiertcn_keras.serving import sessionizer
from hiertcn_keras.serving.user_state import UserState

_spec = importlib.util.spec_from_file_location("data_conftest_for_sessionizer",
                                               Path(__file__).resolve().parents[1] / "data" / "conftest.py")
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)

GAP = 100.0


def online_sessions(rows, rules):
    """Per user: list of sessions, each a list of (item, timestamp) kept events."""
    states, out = {}, {}
    for user, item, t in sorted(rows, key=lambda r: (r[0], r[2])):  # stable: source order at equal times
        state = states.get(user, UserState.initial(1))
        code = int(item[1:]) + 1
        decision = sessionizer.decide(state, code, t, rules)
        if not decision.changes_state:
            continue
        if decision.kind == "new_session":
            out.setdefault(user, []).append([])
        if decision.kept:
            out[user][-1].append((item, t))
        states[user] = sessionizer.apply(state, code, decision)
    return out


def offline_sessions(prepared):
    out = {}
    for k in range(len(prepared.item)):
        user = prepared.user_ids[prepared.user[k] - 1]
        sessions = out.setdefault(user, [])
        if prepared.position[k] == 0:
            sessions.append([])
        sessions[-1].append((prepared.item_ids[prepared.item[k] - 1], float(prepared.timestamp[k])))
    return out


rows_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 3),
              st.sampled_from([0.0, 0.0, 10.0, 99.0, 100.0, 101.0, 250.0])),
    min_size=1, max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(rows_strategy, st.booleans(), st.integers(1, 4))
def test_online_decisions_equal_prepare(raw, collapse, max_len):
    # Cumulative times per user, so the drawn values are the gaps between a user's events.
    clock, rows = {}, []
    for user, item, gap in raw:
        clock[user] = clock.get(user, 0.0) + gap
        rows.append((user, f"i{item}", clock[user]))
    config = PrepareConfig(session_gap=GAP, max_session_len=max_len, collapse_repeats=collapse)
    prepared = prepare(_conftest.make_log(rows), config)
    rules = SessionRules(session_gap=GAP, max_session_len=max_len, collapse_repeats=collapse)
    assert online_sessions(rows, rules) == offline_sessions(prepared)


RULES = SessionRules(session_gap=1800.0, max_session_len=2)


def test_worked_example_of_the_module_docstring():
    state, kinds = UserState.initial(1), []
    for item, t in [(1, 0.0), (2, 60.0), (3, 120.0), (4, 1900.0), (5, 3800.0)]:
        decision = sessionizer.decide(state, item, t, RULES)
        kinds.append(decision.kind)
        state = sessionizer.apply(state, item, decision)
    assert kinds == ["new_session", "kept", "truncated", "truncated", "new_session"]
    assert state.session == [5] and state.n_sessions == 2 and state.n_events == 5


def test_a_gap_equal_to_the_threshold_starts_a_session():
    state = sessionizer.apply(UserState.initial(1), 1, sessionizer.Decision("new_session", 0.0))
    assert sessionizer.decide(state, 2, 1800.0, RULES).kind == "new_session"
    assert sessionizer.decide(state, 2, 1799.9, RULES).kind == "kept"


def test_out_of_order_policies():
    state = sessionizer.apply(UserState.initial(1), 1, sessionizer.Decision("new_session", 500.0))
    with pytest.raises(sessionizer.OutOfOrderError, match="older"):
        sessionizer.decide(state, 2, 10.0, RULES)
    assert sessionizer.decide(state, 2, 10.0, RULES, out_of_order="skip").kind == "out_of_order"
    clamped = sessionizer.decide(state, 2, 10.0, RULES, out_of_order="clamp")
    assert clamped.kind == "kept" and clamped.timestamp == 500.0
    # A clamped exact duplicate of the last event is still a duplicate.
    assert sessionizer.decide(state, 1, 10.0, RULES, out_of_order="clamp").kind == "duplicate"
    with pytest.raises(ValueError, match="out_of_order must be"):
        sessionizer.decide(state, 2, 10.0, RULES, out_of_order="sort")


def test_column_sessions_need_an_explicit_gap():
    with pytest.raises(ValueError, match="session_gap"):
        SessionRules.from_prepare_config({"sessions": "column", "max_session_len": 20})
    assert SessionRules.from_prepare_config({"sessions": "column"}, session_gap=60).session_gap == 60.0


def test_state_is_never_mutated_in_place():
    state = UserState.initial(3)
    new = sessionizer.apply(state, 4, sessionizer.Decision("new_session", 1.0))
    assert state.session == [] and state.n_events == 0 and new.session == [4]
    np.testing.assert_array_equal(state.context, np.zeros(3))
