import keras
import numpy as np
import pytest

from hiertcn_keras.layers import ItemEmbedding


def _matrix(n=5, d=3):
    """A pretrained table whose row 0 is NOT zero (the layer must ignore it)."""
    return np.arange(n * d, dtype="float32").reshape(n, d) + 1.0


def test_index_zero_is_exact_zero(np_out):
    layer = ItemEmbedding(6, 4, embeddings_initializer="ones")
    out = np_out(layer, np.array([[0, 3, 0], [5, 0, 1]]))
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out[..., 0], [[0, 1, 0], [1, 0, 1]])
    assert not np.signbit(out).any()  # +0.0, not -0.0


def test_pretrained_matrix_row_zero_ignored(np_out):
    table = _matrix()
    layer = ItemEmbedding(5, 3, trainable=False, embeddings_initializer=table)
    out = np_out(layer, np.array([0, 2, 4]))
    np.testing.assert_array_equal(out, [np.zeros(3), table[2], table[4]])
    embeddings = keras.ops.convert_to_numpy(layer.embeddings)
    np.testing.assert_array_equal(embeddings[0], np.zeros(3))
    np.testing.assert_array_equal(embeddings[1:], table[1:])
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1


def test_zero_row_after_a_training_step(np_out):
    ids = keras.Input((3,), dtype="int32")
    layer = ItemEmbedding(6, 4, embeddings_initializer="ones")  # row 0 starts non-zero
    model = keras.Model(ids, keras.layers.Dense(1)(keras.layers.Flatten()(layer(ids))))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x = np.array([[0, 1, 2], [3, 0, 0]])
    before = keras.ops.convert_to_numpy(layer.table).copy()
    model.fit(x, np.array([[5.0], [-5.0]]), epochs=1, batch_size=2, verbose=0)
    after = keras.ops.convert_to_numpy(layer.table)
    assert not np.allclose(after[1:4], before[1:4])  # the used rows learned
    np.testing.assert_array_equal(after[0], before[0])  # row 0 gets no gradient
    np.testing.assert_array_equal(np_out(layer, np.array([0])), np.zeros((1, 4)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.embeddings)[0], 0.0)


def test_frozen_does_not_train():
    ids = keras.Input((2,), dtype="int32")
    layer = ItemEmbedding(5, 3, trainable=False, embeddings_initializer=_matrix())
    model = keras.Model(ids, keras.layers.Dense(1)(keras.layers.Flatten()(layer(ids))))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    model.fit(np.array([[1, 2]]), np.array([[3.0]]), verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.table), _matrix())


@pytest.mark.parametrize(
    "kwargs, echoed",
    [
        ({"n_items": 0, "dim": 3}, "got 0"),
        ({"n_items": 5, "dim": 2.5}, "got 2.5"),
        ({"n_items": 4, "dim": 3, "embeddings_initializer": _matrix()}, r"got \(5, 3\)"),
    ],
)
def test_validates_arguments(kwargs, echoed):
    with pytest.raises(ValueError, match=echoed):
        ItemEmbedding(**kwargs)


def test_config_round_trip(np_out):
    layer = ItemEmbedding(7, 2, embeddings_initializer=keras.initializers.RandomNormal(seed=1))
    config = layer.get_config()
    clone = ItemEmbedding.from_config(config)
    assert clone.get_config() == config
    ids = np.array([[0, 6, 3]])
    layer.build(ids.shape)
    clone.build(ids.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np_out(clone, ids), np_out(layer, ids))


def test_keras_file_round_trip_keeps_pretrained_frozen_matrix(save_and_load, np_out):
    ids = keras.Input((3,), dtype="int32")
    emb = ItemEmbedding(5, 3, trainable=False, embeddings_initializer=_matrix(), name="items")
    model = keras.Model(ids, emb(ids), name="emb_model")
    # The matrix travels with the weights, not the config.
    assert emb.get_config()["embeddings_initializer"]["class_name"] == "Zeros"
    loaded = save_and_load(model)
    x = np.array([[0, 1, 4]])
    np.testing.assert_array_equal(np_out(loaded, x), np_out(model, x))
    loaded_emb = loaded.get_layer("items")
    assert not loaded_emb.trainable
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded_emb.table), _matrix())


def test_dropout_is_active_only_in_training(np_out):
    layer = ItemEmbedding(7, 64, dropout=0.5, embeddings_initializer="ones")
    ids = np.array([[0, 3, 6, 2]])
    inference = np_out(layer, ids)
    np.testing.assert_array_equal(inference[0, 1:], np.ones((3, 64)))
    trained = np_out(layer, ids, training=True)
    zeroed = trained[0, 1:] == 0
    assert 0.2 < zeroed.mean() < 0.8  # about half dropped ...
    np.testing.assert_allclose(trained[0, 1:][~zeroed], 2.0)  # ... the rest scaled by 1 / (1 − p)
    np.testing.assert_array_equal(trained[0, 0], 0.0)  # row 0 stays zero


def test_dropout_round_trips_and_is_validated(save_and_load, np_out):
    with pytest.raises(ValueError, match="dropout"):
        ItemEmbedding(5, 3, dropout=1.0)
    ids = keras.Input((3,), dtype="int32")
    model = keras.Model(ids, ItemEmbedding(5, 3, dropout=0.3, name="items")(ids), name="emb_dropout")
    loaded = save_and_load(model)
    assert loaded.get_layer("items").dropout == 0.3
    x = np.array([[0, 1, 4]])
    np.testing.assert_array_equal(np_out(loaded, x), np_out(model, x))
