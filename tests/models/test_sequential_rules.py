import numpy as np
import pytest

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.sequential_rules import SequentialRules, SuccessorCounts

# Training sessions [1, 2, 3] (user 1), [1, 2] (user 2), [2, 1] (user 3); catalogue 1..5.
TRAIN = EventView.from_arrays([1, 1, 1, 2, 2, 3, 3], [1, 2, 3, 1, 2, 2, 1], [0, 0, 0, 1, 1, 2, 2], split="train")
# Training popularity 3, 3, 1, 0, 0 → fallback c / (3 + 1) - 1 for items without a rule.
FB = [-0.25, -0.25, -0.75, -1.0, -1.0]
# User 9: session [1, 2], then session [4].
VIEW = EventView.from_arrays([9, 9, 9], [1, 2, 4], [0, 0, 1])


def fit(cls, **kwargs):
    return cls(**kwargs).fit(TRAIN, 6, 5)


def test_successor_counts_worked_example():
    # Successors: 1→2 twice, 2→3 once, 2→1 once; none across users (3 then 1 is two users).
    scores = fit(SuccessorCounts).scores(VIEW, [0, 1, 2])
    np.testing.assert_allclose(scores[:, 1:], [
        FB,                           # first event: no previous item, fallback only
        [-0.25, 2, -0.75, -1, -1],    # previous item 1: item 2 counts 2
        FB,                           # a new session resets the state
    ], rtol=1e-6)
    assert np.all(scores[:, 0] == -np.inf)
    # across_sessions: the new session's previous item is 2 (→ 3 and → 1, once each).
    across = fit(SuccessorCounts, across_sessions=True).scores(VIEW, [2])
    np.testing.assert_allclose(across[0, 1:], [1, -0.25, 1, -1, -1], rtol=1e-6)
    # Without fallback the items without a rule score 0.
    plain = fit(SuccessorCounts, fallback="none").scores(VIEW, [1])
    np.testing.assert_allclose(plain[0, 1:], [0, 2, 0, 0, 0])


def test_sequential_rules_window_and_weights():
    # Window 2 adds 1→3 at distance 2 (session [1, 2, 3]): weight 1/2 ("div") or 1 ("one").
    div = fit(SequentialRules, window=2).scores(VIEW, [1])
    np.testing.assert_allclose(div[0, 1:], [-0.25, 2, 0.5, -1, -1], rtol=1e-6)
    one = fit(SequentialRules, window=2, weighting="one").scores(VIEW, [1])
    np.testing.assert_allclose(one[0, 1:], [-0.25, 2, 1, -1, -1], rtol=1e-6)
    # Window 1 with "one" weights is the successor count.
    np.testing.assert_array_equal(fit(SequentialRules, window=1, weighting="one").scores(VIEW, [0, 1, 2]),
                                  fit(SuccessorCounts).scores(VIEW, [0, 1, 2]))


def test_sequential_rules_prune():
    # prune=1 keeps each item's strongest rule; row 2 has 2→3 and 2→1 tied at 1: the lower id.
    model = fit(SequentialRules, window=2, prune=1, fallback="none")
    np.testing.assert_allclose(model.sparse_matrix()[1].toarray()[0, 1:], [0, 2, 0, 0, 0])
    np.testing.assert_allclose(model.sparse_matrix()[2].toarray()[0, 1:], [1, 0, 0, 0, 0])


def test_errors():
    with pytest.raises(ValueError, match="weighting must be one of"):
        SequentialRules(weighting="log")
    with pytest.raises(ValueError, match="fallback must be one of"):
        SuccessorCounts(fallback="random")
    with pytest.raises(ValueError, match="window must be an integer ≥ 1"):
        SequentialRules(window=0)
