import numpy as np
import pytest

from hiertcn_keras.data import splits


def test_temporal_split_uses_lower_quantiles_and_half_open_periods():
    t = np.arange(10, dtype=float)  # 0..9
    split, cuts = splits.temporal_split(t, (0.8, 0.9))
    # method="lower": the 0.8 quantile of 0..9 is 7.2 -> 7, the 0.9 quantile 8.1 -> 8.
    assert cuts == (7.0, 8.0)
    assert split.tolist() == [0] * 7 + [1, 2, 2]


def test_user_split_80_10_10_by_rank():
    rank = np.repeat(np.arange(10), 2)
    split = splits.user_split(rank)
    assert split.tolist() == [0] * 16 + [1, 1] + [2, 2]


@pytest.mark.parametrize("q", [(0.9, 0.8), (0.0, 0.5), (0.5, 1.0)])
def test_bad_quantiles_are_rejected(q):
    with pytest.raises(ValueError, match="quantiles"):
        splits.temporal_split(np.arange(3.0), q)


def test_bad_fractions_are_rejected():
    with pytest.raises(ValueError, match="fractions"):
        splits.user_split(np.arange(3), (0.5, 0.5, 0.5))


def test_split_code_names():
    assert [splits.split_code(s) for s in splits.SPLITS] == [0, 1, 2]
    with pytest.raises(ValueError, match="'dev'"):
        splits.split_code("dev")
