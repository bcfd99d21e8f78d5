import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hiertcn_keras.data import sessionize


def test_worked_example_gap_equal_to_threshold_starts_a_session():
    user = np.array([0, 0, 0, 0, 1])
    t = np.array([0.0, 60.0, 1860.0, 1861.0, 70.0])
    starts = sessionize.session_starts(user, t, gap=1800)
    # 60 -> 1860 is exactly 1800 s: a new session (>=); user 1 starts its own session.
    assert starts.tolist() == [True, False, True, False, True]
    assert sessionize.session_ids(starts).tolist() == [0, 0, 1, 1, 2]
    assert sessionize.positions(starts).tolist() == [0, 1, 0, 1, 0]


def test_gap_just_below_threshold_continues_the_session():
    starts = sessionize.session_starts(np.array([0, 0]), np.array([0.0, 1799.999]), gap=1800)
    assert starts.tolist() == [True, False]


def test_session_key_overrides_gap_rule():
    user = np.array([0, 0, 0])
    t = np.array([0.0, 10_000.0, 10_001.0])
    key = np.array([5, 5, 6])
    # The source says events 0 and 1 share a session despite the long gap.
    assert sessionize.session_starts(user, t, session_key=key).tolist() == [True, False, True]


def test_invalid_gap_is_rejected_with_value():
    try:
        sessionize.session_starts(np.array([0]), np.array([0.0]), gap=0)
    except ValueError as error:
        assert "got 0" in str(error)
    else:
        raise AssertionError("expected ValueError")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 20_000)), min_size=1, max_size=80),
    st.floats(1, 5000),
)
def test_sessions_partition_each_users_events(raw, gap):
    raw.sort()
    user = np.array([u for u, _ in raw])
    t = np.array([float(x) for _, x in raw])
    starts = sessionize.session_starts(user, t, gap=gap)
    sid = sessionize.session_ids(starts)
    pos = sessionize.positions(starts)
    # Every event in exactly one session; sessions never mix users; within a session all
    # consecutive gaps are < gap; positions count up from 0.
    assert len(sid) == len(raw) and sid[0] == 0 and (np.diff(sid) >= 0).all()
    for s in np.unique(sid):
        members = np.flatnonzero(sid == s)
        assert len(set(user[members])) == 1
        assert (np.diff(t[members]) < gap).all()
        assert pos[members].tolist() == list(range(len(members)))
    # A boundary inside one user's events happens exactly where the gap is >= threshold.
    same_user = user[1:] == user[:-1]
    assert (starts[1:][same_user] == (np.diff(t)[same_user] >= gap)).all()
