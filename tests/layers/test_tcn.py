import keras
import numpy as np
import pytest

from hiertcn_keras.layers import TCN, TemporalBlock

# Positive weights and inputs keep every ReLU in its linear part, so a change at one input step
# reaches every output it can reach (no dead unit hides a dependency).
POSITIVE = keras.initializers.RandomUniform(0.05, 0.2, seed=0)


@pytest.mark.parametrize(
    "channels, kernel_size, variant, expected",
    [
        ((128, 128), 5, "official", 13),  # 1 + 4·1 + 4·2: the official setup
        ((128,) * 4, 5, "official", 61),  # 1 + 4·(1 + 2 + 4 + 8): the final Pinterest runs
        ((8, 8, 8), 3, "bai", 29),  # 1 + 2·2·(1 + 2 + 4)
    ],
)
def test_receptive_field(channels, kernel_size, variant, expected):
    tcn = TCN(channels, kernel_size=kernel_size, variant=variant)
    assert tcn.receptive_field == expected
    assert [b.dilation_rate for b in tcn.blocks] == [2**i for i in range(len(channels))]


@pytest.mark.parametrize("variant", ["official", "bai"])
@pytest.mark.parametrize("channels", [(4,), (4, 6), (4, 4, 5)])  # dilations up to 1, 2, 4
def test_causal(channels, variant, np_out):
    tcn = TCN(channels, kernel_size=3, variant=variant)
    rng = np.random.default_rng(len(channels))
    x = rng.normal(size=(2, 16, 3)).astype("float32")
    base = np_out(tcn, x)
    assert base.shape == (2, 16, channels[-1])
    for t in (1, 7, 15):
        changed = x.copy()
        changed[:, t:] += rng.normal(size=changed[:, t:].shape).astype("float32")
        out = np_out(tcn, changed)
        np.testing.assert_array_equal(out[:, :t], base[:, :t])


@pytest.mark.parametrize(
    "channels, kernel_size, variant", [((4, 4, 4), 3, "official"), ((3, 3), 2, "bai")]
)
def test_output_sees_exactly_its_receptive_field(channels, kernel_size, variant, np_out):
    tcn = TCN(channels, kernel_size, variant, kernel_initializer=POSITIVE)
    rf = tcn.receptive_field  # 15 and 1 + 1·2·(1 + 2) = 7
    steps, t = 24, 23
    x = np.random.default_rng(0).uniform(0.5, 1.0, size=(1, steps, 3)).astype("float32")
    base = np_out(tcn, x)[0, t]

    def bumped(step):
        changed = x.copy()
        changed[0, step] += 1.0
        return np_out(tcn, changed)[0, t]

    assert not np.allclose(bumped(t - rf + 1), base)  # the oldest step it sees
    np.testing.assert_array_equal(bumped(t - rf), base)  # one step older: invisible


def test_validates_arguments():
    with pytest.raises(ValueError, match=r"got \(\)"):
        TCN(channels=())
    with pytest.raises(ValueError, match="got 0"):
        TCN(channels=(4, 0))
    with pytest.raises(ValueError, match="got 'x'"):
        TCN(variant="x")


def test_config_round_trip(np_out):
    tcn = TCN((4, 5), kernel_size=3, variant="bai", dropout=0.2, name="tcn")
    x = np.random.default_rng(0).normal(size=(2, 10, 3)).astype("float32")
    expected = np_out(tcn, x)
    config = tcn.get_config()
    assert config["channels"] == [4, 5] and config["variant"] == "bai"
    clone = TCN.from_config(config)
    clone.build(x.shape)
    clone.set_weights(tcn.get_weights())
    assert clone.get_config() == config
    np.testing.assert_array_equal(np_out(clone, x), expected)


def test_keras_file_round_trip(save_and_load, np_out):
    inputs = keras.Input((10, 3))
    model = keras.Model(inputs, TCN((4, 4), kernel_size=3)(inputs), name="tcn_model")
    x = np.random.default_rng(1).normal(size=(2, 10, 3)).astype("float32")
    loaded = save_and_load(model)
    tcn = loaded.layers[-1]
    assert isinstance(tcn, TCN) and all(isinstance(b, TemporalBlock) for b in tcn.blocks)
    np.testing.assert_array_equal(np_out(loaded, x), np_out(model, x))


@pytest.mark.parametrize("variant", ["official", "bai"])
def test_packed_rows_equal_one_sequence_per_row(variant, np_out):
    """Two sequences laid end to end with segment starts give each one's own outputs."""
    tcn = TCN(channels=(6, 6, 4), kernel_size=3, variant=variant)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1, 5, 3)).astype("float32"), rng.normal(size=(1, 9, 3)).astype("float32")
    packed = np.concatenate([a, b], axis=1)  # one row of 14 steps: a, then b
    starts = np.zeros((1, 14), bool)
    starts[0, [0, 5]] = True
    out = np_out(tcn, packed, segment_start=starts)
    np.testing.assert_allclose(out[:, :5], np_out(tcn, a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, 5:], np_out(tcn, b), rtol=1e-5, atol=1e-5)
    # Without the second start, b's steps see a (the receptive field, 1 + 2·2·7 > 5, reaches it).
    assert np.abs(np_out(tcn, packed)[:, 5:] - out[:, 5:]).max() > 1e-4
