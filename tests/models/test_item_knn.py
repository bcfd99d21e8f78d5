import numpy as np
import pytest

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.item_knn import ItemKNN

# Training sessions {1, 2}, {1, 2}, {1, 3}: support 3, 2, 1; co(1, 2) = 2, co(1, 3) = 1.
TRAIN = EventView.from_arrays([1, 1, 2, 2, 3, 3], [1, 2, 2, 1, 1, 3], [0, 0, 1, 1, 2, 2], split="train")
# Fallback (popularity 3, 2, 1, 0 of max 3): c / 4 - 1.
FB = np.array([-0.25, -0.5, -0.75, -1.0])
# User 9, one session [1, 2, 3, 4]: events 1, 2, 3 have previous items 1, 2, 3.
VIEW = EventView.from_arrays([9] * 4, [1, 2, 3, 4], [0] * 4)


def fit(**kwargs):
    return ItemKNN(**kwargs).fit(TRAIN, 5, 4)


def test_cosine_worked_example():
    s12, s13 = 2 / np.sqrt(6), 1 / np.sqrt(3)
    scores = fit(lam=0.0).scores(VIEW, [0, 1, 2, 3])[:, 1:]
    np.testing.assert_allclose(scores, [
        FB,                                # no previous item
        [FB[0], s12, s13, FB[3]],          # previous 1; never itself
        [s12, FB[1], FB[2], FB[3]],        # previous 2: sim(2, 3) = 0 (never together)
        [s13, FB[1], FB[2], FB[3]],        # previous 3
    ], rtol=1e-6)


def test_regularisation_asymmetry_and_neighbours():
    # λ = 1: sim(1, 2) = 2 / (√6 + 1).
    np.testing.assert_allclose(fit(lam=1.0).scores(VIEW, [1])[0, 2], 2 / (np.sqrt(6) + 1), rtol=1e-6)
    # alpha = 1: sim(i, j) = co / supp(i): sim(1, 2) = 2/3, sim(2, 1) = 2/2.
    model = fit(lam=0.0, alpha=1.0)
    np.testing.assert_allclose(model.scores(VIEW, [1, 2])[:, 1:3], [[FB[0], 2 / 3], [1.0, FB[1]]], rtol=1e-6)
    # One neighbour per item: 1 keeps 2 (2/√6 > 1/√3), so item 3 falls back.
    one = fit(lam=0.0, neighbours=1, fallback="none").scores(VIEW, [1])
    np.testing.assert_allclose(one[0, 1:], [0, 2 / np.sqrt(6), 0, 0], rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="alpha must lie in"):
        ItemKNN(alpha=2)
    with pytest.raises(ValueError, match="lam must be ≥ 0"):
        ItemKNN(lam=-1)
