import keras
import numpy as np
import pytest
import tensorflow as tf

from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.models.item_model import ItemGraphEncoder, ItemModel, embed_all, training_pairs

N_ITEMS, T = 30, 4


def tables(seed=0):
    rng = np.random.default_rng(seed)
    nb = rng.integers(1, N_ITEMS, (N_ITEMS, T)).astype(np.int32)
    w = rng.random((N_ITEMS, T)).astype(np.float32)
    w /= w.sum(1, keepdims=True)
    nb[0], w[0] = 0, 0
    return nb, w


def test_encoder_shapes_zero_padding_unit_norm():
    # Seeded: with an untrained encoder some seeds (3 and 9 of 0-39) leave every ReLU of g1 dead
    # for an item, whose embedding is then 0, not unit-norm; unseeded, the test depended on the
    # tests that ran before it in the same process.
    keras.utils.set_random_seed(0)
    nb, w = tables()
    enc = ItemGraphEncoder(N_ITEMS, nb, w, dim=6)
    z = np.asarray(enc(np.array([0, 1, 2, 29], np.int32)))
    assert z.shape == (4, 6)
    assert np.all(z[0] == 0.0)
    np.testing.assert_allclose(np.linalg.norm(z[1:], axis=1), 1.0, rtol=1e-5)


def test_embedding_depends_on_the_two_hop_neighbourhood_only():
    nb, w = tables()
    enc = ItemGraphEncoder(N_ITEMS, nb, w, dim=6)
    ids = np.array([1], np.int32)
    before = np.asarray(enc(ids))
    hood = set(nb[1]) | {int(v) for u in nb[1] for v in nb[u]} | {1}
    outside = next(i for i in range(1, N_ITEMS) if i not in hood)
    table = enc.ids.table
    values = np.asarray(table).copy()
    values[outside] += 10.0
    table.assign(values)
    np.testing.assert_allclose(np.asarray(enc(ids)), before, rtol=1e-6)
    inside = int(nb[nb[1][0]][0]) if nb[nb[1][0]][0] else int(nb[1][0])
    values[inside] += 10.0
    table.assign(values)
    assert not np.allclose(np.asarray(enc(ids)), before)


def test_wrong_table_shapes_are_refused():
    nb, w = tables()
    with pytest.raises(ValueError, match="must both be"):
        ItemGraphEncoder(N_ITEMS + 1, nb, w)


# nce runs with the slow tests: its formula is checked in test_item_objective.py, and softmax
# trains and round-trips below; each variant here costs a traced training step (~10 s).
@pytest.mark.parametrize("loss", ["max_margin", pytest.param("nce", marks=pytest.mark.slow)])
def test_item_model_trains_and_round_trips(loss, tmp_path):
    nb, w = tables()
    model = ItemModel(ItemGraphEncoder(N_ITEMS, nb, w, dim=6), loss_name=loss, n_negatives=8, seed=1)
    rng = np.random.default_rng(2)
    q = rng.integers(1, N_ITEMS, 64).astype(np.int32)
    p = ((q % (N_ITEMS - 1)) + 1).astype(np.int32)  # a deterministic "next item"
    model({"query": q[:2], "positive": p[:2]})
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(tf.data.Dataset.from_tensor_slices({"query": q, "positive": p}).batch(16), epochs=3,
                        verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    model.save(tmp_path / "items.keras")
    loaded = keras.models.load_model(tmp_path / "items.keras")
    np.testing.assert_allclose(embed_all(loaded.encoder, N_ITEMS), embed_all(model.encoder, N_ITEMS), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(loaded.encoder.neighbours), nb)


def test_training_pairs_stay_inside_sessions():
    view = EventView(np.array([1, 1, 1, 1, 2, 2], np.int32), np.array([5, 6, 6, 7, 8, 9], np.int32),
                     np.arange(6.0), np.array([0, 0, 0, 1, 2, 2], np.int32), np.zeros(6, np.int16),
                     np.ones(6, bool), "train")
    q, p = training_pairs(view)
    # (5,6) yes; (6,6) is a repeat; (6,7) crosses sessions; (7,8) crosses users; (8,9) yes.
    assert list(zip(q.tolist(), p.tolist())) == [(5, 6), (8, 9)]


def test_hard_negative_curriculum_and_softmax_round_trip(tmp_path):
    from hiertcn_keras.models.item_model import HardNegativeCurriculum

    nb, w = tables()
    model = ItemModel(ItemGraphEncoder(N_ITEMS, nb, w, dim=6), loss_name="softmax", n_negatives=8, seed=1,
                      temperature=0.1, max_hard_negatives=2)
    q = np.arange(1, N_ITEMS, dtype=np.int32)
    p = ((q % (N_ITEMS - 1)) + 1).astype(np.int32)
    model({"query": q[:2], "positive": p[:2]})
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(int(np.asarray(self.model.hard_count)))

    history = model.fit(tf.data.Dataset.from_tensor_slices({"query": q, "positive": p}).batch(8), epochs=4,
                        verbose=0, callbacks=[HardNegativeCurriculum(), Record()])
    assert seen == [0, 1, 2, 2]  # epoch e trains with min(e, 2) hard negatives
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "items.keras")
    loaded = keras.models.load_model(tmp_path / "items.keras")
    assert (loaded.loss_name, loaded.temperature, loaded.max_hard_negatives) == ("softmax", 0.1, 2)
    np.testing.assert_allclose(embed_all(loaded.encoder, N_ITEMS), embed_all(model.encoder, N_ITEMS), atol=1e-6)


def test_item_model_refuses_bad_settings():
    nb, w = tables()
    encoder = ItemGraphEncoder(N_ITEMS, nb, w, dim=6)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        ItemModel(encoder, loss_name="nce", temperature=0)
    with pytest.raises(ValueError, match="loss_name must be one of"):
        ItemModel(encoder, loss_name="triplet")
