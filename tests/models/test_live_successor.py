"""`livesuccessor`: successor counts over every session before the event (the transition prior's counts)."""

import numpy as np

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.baselines import make_baseline
from hiertcn_keras.models.live_successor import LiveSuccessorCounts
from hiertcn_keras.models.sequential_rules import SuccessorCounts

# Training: user 1: session [1, 2]; user 2: session [3, 1]. Popularity: item 1 twice, items 2 and 3 once.
TRAIN = EventView.from_arrays([1, 1, 2, 2], [1, 2, 3, 1], [0, 0, 1, 1], timestamp=[0, 1, 0, 1], split="train")


def test_the_worked_example_counts_other_users_earlier_pairs():
    # View: user 3 clicks 1 then 3 (t 5, 6); user 4 clicks 1 then 4 (t 7, 8) and, in a new session, 2 (t 100).
    view = EventView.from_arrays([3, 3, 4, 4, 4], [1, 3, 1, 4, 2], [2, 2, 3, 3, 4], timestamp=[5, 6, 7, 8, 100])
    live = make_baseline("livesuccessor").fit(TRAIN, 6, 5)
    assert isinstance(live, LiveSuccessorCounts)
    scores = live.scores(view, [1, 3, 4])
    fallback = np.array([2, 1, 1, 0, 0]) / 3 - 1  # training popularity of items 1..5, below any count
    # Event 1 (user 3, current 1, t 6): 1 → 2 once (training); its own pair 1 → 3 at 6 does not count.
    np.testing.assert_allclose(scores[0, 1:], [fallback[0], 1, fallback[2], fallback[3], fallback[4]], rtol=1e-6)
    # Event 3 (user 4, current 1, t 8): 1 → 2 (training) and user 3's 1 → 3 at 6 (another user, earlier).
    np.testing.assert_allclose(scores[1, 1:], [fallback[0], 1, 1, fallback[3], fallback[4]], rtol=1e-6)
    # Event 4 starts a session: popularity only.
    np.testing.assert_allclose(scores[2, 1:], fallback, rtol=1e-6)
    assert scores[:, 0].tolist() == [-np.inf] * 3
    # `successor` counts the training sessions only: 1 → 3 is unknown to it.
    trained = SuccessorCounts().fit(TRAIN, 6, 5).scores(view, [3])
    assert trained[0, 3] < 0 < scores[1, 3]
