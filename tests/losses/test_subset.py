"""`largest_keys`: exactly the positions `top_k` picks (ties to the lower position), without a sort."""

import keras
import numpy as np
import pytest

from hiertcn_keras.losses import KEY_RANGE, largest_keys


def _reference(keys, k):
    """The k largest keys ≥ 0 (ties: lower position first), as sorted positions."""
    order = sorted(range(len(keys)), key=lambda i: (-keys[i], i))
    return sorted(i for i in order[:k] if keys[i] >= 0)


def _pick(keys, k):
    index, valid = largest_keys(keras.ops.convert_to_tensor(np.asarray(keys, "int32")), k)
    return keras.ops.convert_to_numpy(index), keras.ops.convert_to_numpy(valid)


def test_hand_example():
    index, valid = _pick([5, -1, 7, 5, 2], 2)
    assert index.tolist() == [0, 2] and valid.tolist() == [True, True]
    index, valid = _pick([5, -1, 7, 5, 2], 6)
    assert index.tolist() == [0, 2, 3, 4, 0, 0] and valid.tolist() == [True] * 4 + [False] * 2


@pytest.mark.parametrize("high", [3, 50, KEY_RANGE])  # many ties, some, almost none
def test_matches_the_k_largest_on_random_keys(high):
    rng = np.random.default_rng(high % 97)
    for _ in range(25):
        n, k = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        keys = rng.integers(0, high, n)
        keys[rng.random(n) < 0.3] = -1
        index, valid = _pick(keys, k)
        expected = _reference(keys.tolist(), k)
        assert index[valid].tolist() == expected and int(valid.sum()) == len(expected)
        assert not index[~valid].any()


def test_no_key_chosen_when_all_are_negative():
    index, valid = _pick([-1, -1, -1], 2)
    assert not valid.any() and index.tolist() == [0, 0]


def test_largest_and_smallest_keys_of_the_range():
    index, valid = _pick([0, KEY_RANGE - 1, 0, KEY_RANGE - 1], 3)
    assert index.tolist() == [0, 1, 3] and valid.all()


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compiled with tf.function(jit_compile=True)")
def test_compiled_with_xla_gives_the_same_positions():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    keys = rng.integers(0, 20, 300)
    keys[rng.random(300) < 0.2] = -1
    compiled = tf.function(lambda x: largest_keys(x, 64), jit_compile=True)
    index, valid = (t.numpy() for t in compiled(tf.constant(keys, tf.int32)))
    assert index[valid].tolist() == _reference(keys.tolist(), 64) and valid.all()
