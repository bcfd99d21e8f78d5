import keras
import numpy as np
import pytest

from hiertcn_keras.layers import TemporalBlock


def _x(*steps):
    """One sequence [1, L, F] from its steps."""
    return np.array([steps], dtype="float32").reshape(1, len(steps), -1)


def _set_conv(conv, taps, bias):
    """taps[j]: [F, filters] weights of tap j (tap 0 = the earliest step)."""
    conv.set_weights([np.asarray(taps, "float32"), np.asarray(bias, "float32")])


def test_official_block_hand_numbers_identity_residual(np_out):
    block = TemporalBlock(1, kernel_size=2, dilation_rate=1)
    block.build((None, 3, 1))
    _set_conv(block.convs[0], [[[1.0]], [[2.0]]], [0.0])
    # y_t = 1·x_{t-1} + 2·x_t on left-padded x = [0, 1, -2, 3]: y = [2, -3, 4],
    # h = ReLU(y) = [2, 0, 4]; F == filters so r = x; out = ReLU(h + x) = ReLU([3, -2, 7]).
    out = np_out(block, _x(1.0, -2.0, 3.0))
    np.testing.assert_allclose(out[0, :, 0], [3.0, 0.0, 7.0])
    assert block.downsample is None


def test_official_block_hand_numbers_dilation_2(np_out):
    block = TemporalBlock(1, kernel_size=2, dilation_rate=2)
    block.build((None, 4, 1))
    _set_conv(block.convs[0], [[[1.0]], [[2.0]]], [0.0])
    # y_t = 1·x_{t-2} + 2·x_t on x = [1, -2, 3, 4] padded by (2-1)·2 = 2 zeros:
    # y = [2, -4, 1 + 6, -2 + 8] = [2, -4, 7, 6]; h = [2, 0, 7, 6]; h + x = [3, -2, 10, 10].
    out = np_out(block, _x(1.0, -2.0, 3.0, 4.0))
    np.testing.assert_allclose(out[0, :, 0], [3.0, 0.0, 10.0, 10.0])


def test_official_block_hand_numbers_dense_residual(np_out):
    block = TemporalBlock(1, kernel_size=2)
    block.build((None, 3, 2))
    # Earlier tap reads +feature 0, current tap reads -feature 1, bias 0.5:
    # y_t = x_{t-1}[0] - x_t[1] + 0.5 on x = [[1, 0], [0, 1], [1, 1]]
    # y = [0 - 0 + .5, 1 - 1 + .5, 0 - 1 + .5] = [.5, .5, -.5]; h = [.5, .5, 0].
    _set_conv(block.convs[0], [[[1.0], [0.0]], [[0.0], [-1.0]]], [0.5])
    # F = 2 != filters = 1, so r = Dense: r_t = 2·x_t[0] + x_t[1] - 1 = [1, 0, 2].
    block.downsample.set_weights([np.array([[2.0], [1.0]], "float32"), np.array([-1.0], "float32")])
    out = np_out(block, _x([1.0, 0.0], [0.0, 1.0], [1.0, 1.0]))
    # ReLU(h + r) = [1.5, 0.5, 2].
    np.testing.assert_allclose(out[0, :, 0], [1.5, 0.5, 2.0])


def test_bai_block_hand_numbers(np_out):
    block = TemporalBlock(1, kernel_size=2, variant="bai")
    block.build((None, 3, 1))
    _set_conv(block.convs[0], [[[1.0]], [[1.0]]], [0.0])
    _set_conv(block.convs[1], [[[-1.0]], [[1.0]]], [0.0])
    # conv0 on [0, 1, 2, -4]: [1, 3, -2] -> ReLU [1, 3, 0]
    # conv1 (-h_{t-1} + h_t) on [0, 1, 3, 0]: [1, 2, -3] -> ReLU [1, 2, 0]
    # ReLU([1, 2, 0] + x) = ReLU([2, 4, -4]) = [2, 4, 0].
    out = np_out(block, _x(1.0, 2.0, -4.0))
    np.testing.assert_allclose(out[0, :, 0], [2.0, 4.0, 0.0])


@pytest.mark.parametrize(
    "variant, kernel_size, dilation, expected",
    [("official", 5, 1, 5), ("official", 5, 4, 17), ("bai", 3, 2, 9)],
)
def test_receptive_field_and_shape(variant, kernel_size, dilation, expected, np_out):
    block = TemporalBlock(6, kernel_size=kernel_size, dilation_rate=dilation, variant=variant)
    assert block.receptive_field == expected  # 1 + convs·(k-1)·d
    assert np_out(block, np.zeros((2, 7, 3), "float32")).shape == (2, 7, 6)
    assert block.compute_output_shape((None, 7, 3)) == (None, 7, 6)


@pytest.mark.parametrize("variant", ["official", "bai"])
@pytest.mark.parametrize("dilation", [1, 2, 4])
def test_causal(variant, dilation, np_out):
    block = TemporalBlock(4, kernel_size=3, dilation_rate=dilation, variant=variant)
    rng = np.random.default_rng(dilation)
    x = rng.normal(size=(2, 12, 3)).astype("float32")
    base = np_out(block, x)
    for t in (1, 5, 11):
        changed = x.copy()
        changed[:, t:] = rng.normal(size=changed[:, t:].shape)
        out = np_out(block, changed)
        np.testing.assert_array_equal(out[:, :t], base[:, :t])
        assert not np.allclose(out[:, t:], base[:, t:])


def test_dropout_only_in_training(np_out):
    block = TemporalBlock(16, kernel_size=3, variant="bai", dropout=0.5)
    x = np.ones((2, 6, 16), "float32")
    np.testing.assert_array_equal(np_out(block, x), np_out(block, x, training=False))
    assert not np.array_equal(np_out(block, x, training=True), np_out(block, x))


@pytest.mark.parametrize(
    "kwargs, echoed",
    [
        ({"filters": 0}, "got 0"),
        ({"filters": 4, "kernel_size": 0}, "got 0"),
        ({"filters": 4, "dilation_rate": 1.5}, "got 1.5"),
        ({"filters": 4, "variant": "wavenet"}, "got 'wavenet'"),
        ({"filters": 4, "dropout": 1.0}, "got 1.0"),
    ],
)
def test_validates_arguments(kwargs, echoed):
    with pytest.raises(ValueError, match=echoed):
        TemporalBlock(**kwargs)


def test_config_round_trip(np_out):
    block = TemporalBlock(
        5, kernel_size=3, dilation_rate=2, variant="bai", dropout=0.1,
        kernel_initializer=keras.initializers.HeNormal(seed=3), name="tb",
    )
    x = np.random.default_rng(0).normal(size=(2, 9, 3)).astype("float32")
    expected = np_out(block, x)
    config = block.get_config()
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    clone = TemporalBlock.from_config(config)
    clone.build(x.shape)
    clone.set_weights(block.get_weights())
    assert clone.get_config() == config
    np.testing.assert_array_equal(np_out(clone, x), expected)


def test_keras_file_round_trip(save_and_load, np_out):
    inputs = keras.Input((9, 3))
    h = TemporalBlock(4, kernel_size=3)(inputs)  # 3 -> 4: Dense residual
    outputs = TemporalBlock(4, kernel_size=2, dilation_rate=2, variant="bai")(h)
    model = keras.Model(inputs, outputs, name="blocks")
    x = np.random.default_rng(1).normal(size=(2, 9, 3)).astype("float32")
    loaded = save_and_load(model)
    assert [type(layer).__name__ for layer in loaded.layers[1:]] == ["TemporalBlock"] * 2
    np.testing.assert_array_equal(np_out(loaded, x), np_out(model, x))
