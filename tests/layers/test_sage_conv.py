import keras
import numpy as np
import pytest

from hiertcn_keras.layers.sage_conv import PinSageConv


def test_hand_computed_output_with_identity_weights():
    layer = PinSageConv(2, pooling_units=2, normalize=False)
    layer.build((None, 2), (None, 2, 2), (None, 2))
    eye = np.eye(2, dtype="float32")
    layer.pool.set_weights([eye, np.zeros(2, "float32")])
    # combine: [h ; n] (4) -> 2, taking h + n.
    layer.combine.set_weights([np.vstack([eye, eye]), np.zeros(2, "float32")])
    h = np.array([[1.0, 0.0]], "float32")
    neigh = np.array([[[0.0, 2.0], [-5.0, 4.0]]], "float32")
    w = np.array([[0.75, 0.25]], "float32")
    # n = 0.75·ReLU([0, 2]) + 0.25·ReLU([-5, 4]) = [0, 1.5] + [0, 1] = [0, 2.5]; z = ReLU(h + n) = [1, 2.5].
    np.testing.assert_allclose(np.asarray(layer(h, neigh, w)), [[1.0, 2.5]], rtol=1e-6)


def test_zero_weight_neighbours_are_ignored_and_output_is_unit_norm():
    rng = np.random.default_rng(0)
    layer = PinSageConv(4)
    h = rng.normal(size=(3, 5)).astype("float32")
    neigh = rng.normal(size=(3, 2, 5)).astype("float32")
    w = np.array([[1.0, 0.0]] * 3, "float32")
    out = np.asarray(layer(h, neigh, w))
    changed = neigh.copy()
    changed[:, 1] = 100.0  # a padding neighbour (weight 0) must not matter
    np.testing.assert_allclose(np.asarray(layer(h, changed, w)), out, rtol=1e-6)
    norms = np.linalg.norm(out, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))


def test_config_and_keras_round_trip(tmp_path):
    h = keras.Input((5,))
    nb = keras.Input((3, 5))
    w = keras.Input((3,))
    model = keras.Model([h, nb, w], PinSageConv(4, pooling_units=6, name="conv")(h, nb, w))
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(2, 5)), rng.normal(size=(2, 3, 5)), rng.random((2, 3))]
    x = [a.astype("float32") for a in x]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)
    config = model.get_layer("conv").get_config()
    assert (config["units"], config["pooling_units"], config["normalize"]) == (4, 6, True)


def test_bad_units():
    with pytest.raises(ValueError, match="got 0"):
        PinSageConv(0)
