import numpy as np
import pytest

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.vsknn import VSKNN

H = 3600.0
# Training sessions A = [1, 2, 3] (ends at 2 h), B = [2, 4] (11 h), C = [1, 4] (21 h).
TRAIN = EventView.from_arrays([1, 1, 1, 2, 2, 3, 3], [1, 2, 3, 2, 4, 1, 4], [0, 0, 0, 1, 1, 2, 2],
                              timestamp=np.array([0, 1, 2, 10, 11, 20, 21]) * H, split="train")
# Popularity 2, 2, 1, 2, 0 (max 2): fallback c / 3 - 1; item 5 → -1, item 3 → -2/3.
# Current session [1, 2, (5)] at 21 h: q = {2: 1, 1: 1/2} ("div"); sim A 1.5, B 1, C 0.5.
VIEW = EventView.from_arrays([9, 9, 9], [1, 2, 5], [0, 0, 0], timestamp=np.array([19, 20, 21]) * H)


def scores(**kwargs):
    return VSKNN(**kwargs).fit(TRAIN, 6, 5).scores(VIEW, [2])[0, 1:]


def test_worked_example():
    np.testing.assert_allclose(scores(k=2), [1.5, 2.5, 1.5, 1, -1], rtol=1e-6)  # A and B
    np.testing.assert_allclose(scores(k=3), [2, 2.5, 1.5, 1.5, -1], rtol=1e-6)  # + C
    # The two most recent sessions only (B, C): item 3 has no neighbour, falls back.
    np.testing.assert_allclose(scores(sample_size=2), [0.5, 1, -2 / 3, 1.5, -1], rtol=1e-6)
    # "same" decay: q = {1: 1, 2: 1}; sim A 2, B 1, C 1.
    np.testing.assert_allclose(scores(decay="same"), [3, 3, 2, 2, -1], rtol=1e-6)


def test_recency_weights():
    # Half-life 10 h at 21 h: A (19 h old) × 2^-1.9, B (10 h) × 1/2, C (0 h) × 1.
    a, b, c = 1.5 * 2 ** -1.9, 0.5, 0.5
    np.testing.assert_allclose(scores(recency_halflife_hours=10.0), [a + c, a + b, a, b + c, -1], rtol=1e-5)


def test_state_resets_at_session_and_user_starts():
    view = EventView.from_arrays([8, 9, 9, 9], [1, 2, 4, 1], [0, 1, 1, 2])
    model = VSKNN(fallback="none").fit(TRAIN, 6, 5)
    got = model.scores(view, [0, 1, 3])
    np.testing.assert_array_equal(got[:, 1:], 0)  # first events: user 8, user 9, user 9's 2nd session
    query = model.query_matrix(view, [2]).toarray()
    np.testing.assert_allclose(query[0], [0, 0, 1, 0, 0, 0])


def test_linear_decay_and_duplicates():
    # Session [1, 2, 1, (x)]: m = 3; linear weights 1/3, 2/3, 3/3; item 1 keeps max(1/3, 1) = 1.
    view = EventView.from_arrays([9] * 4, [1, 2, 1, 3], [0] * 4)
    np.testing.assert_allclose(VSKNN(decay="linear").fit(TRAIN, 6, 5).query_matrix(view, [3]).toarray()[0],
                               [0, 1, 2 / 3, 0, 0, 0], rtol=1e-6)
    # "div": item 1 is the most recent (1), item 2 one step further (1/2).
    np.testing.assert_allclose(VSKNN().fit(TRAIN, 6, 5).query_matrix(view, [3]).toarray()[0],
                               [0, 1, 0.5, 0, 0, 0], rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="decay must be one of"):
        VSKNN(decay="log")
    with pytest.raises(ValueError, match="recency_halflife_hours must be > 0"):
        VSKNN(recency_halflife_hours=0)
