import keras
import numpy as np
import pytest

from hiertcn_keras.models.item_objective import item_pair_loss, two_hop_negatives

POS = np.array([0.5, 0.2], np.float32)
NEG = np.array([[0.45, 0.9, -0.1], [0.3, 0.1, 0.8]], np.float32)
VALID = np.array([[True, False, True], [True, True, False]])


def _loss(name, **kwargs):
    return float(item_pair_loss(name, POS, NEG, VALID, **kwargs))


def test_max_margin_averages_over_valid_candidates_only():
    # pair 0: max(0, .1+.45-.5) = .05 and max(0, .1-.1-.5) = 0 → .025 (0.9 is masked)
    # pair 1: max(0, .1+.3-.2) = .2 and max(0, .1+.1-.2) = 0 → .1 (0.8 is masked)
    assert _loss("max_margin", margin=0.1) == pytest.approx((0.025 + 0.1) / 2, abs=1e-6)


def test_nce_matches_numpy_with_temperature():
    def log_sigmoid(x):
        return -np.log1p(np.exp(-x))

    tau = 0.2
    expected = np.mean([
        -log_sigmoid(POS[i] / tau) - np.mean(log_sigmoid(-NEG[i][VALID[i]] / tau)) for i in range(2)
    ])
    assert _loss("nce", temperature=tau) == pytest.approx(expected, rel=1e-5)


def test_softmax_ignores_masked_candidates():
    tau = 0.5
    expected = []
    for i in range(2):
        logits = np.concatenate([[POS[i]], NEG[i][VALID[i]]]) / tau
        expected.append(np.log(np.exp(logits).sum()) - logits[0])
    assert _loss("softmax", temperature=tau) == pytest.approx(np.mean(expected), rel=1e-5)
    # A masked candidate may score anything: the loss does not move.
    moved = NEG.copy()
    moved[0, 1] = 100.0
    assert float(item_pair_loss("softmax", POS, moved, VALID, temperature=tau)) == pytest.approx(np.mean(expected),
                                                                                                rel=1e-5)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        item_pair_loss("triplet", POS, NEG, VALID)


def test_two_hop_negatives_are_two_hop_neighbours():
    # 1 → {2, 3}, 2 → {4, 0}, 3 → {5, 6}: walks from 1 end in {4, 0 (a missing slot), 5, 6}.
    neighbours = np.array([[0, 0], [2, 3], [4, 0], [5, 6], [0, 0], [0, 0], [0, 0]], np.int32)
    hard = np.asarray(two_hop_negatives(neighbours, np.array([1, 1, 1], np.int32), 50, keras.random.SeedGenerator(0)))
    assert hard.shape == (3, 50) and hard.dtype == np.int32
    assert set(hard.ravel().tolist()) == {0, 4, 5, 6}
