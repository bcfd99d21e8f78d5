"""The layers together in a small HierTCN-shaped model on the JAX and PyTorch backends.

Each backend runs in its own subprocess (the backend is fixed when Keras is imported) with
KERAS_BACKEND set; a backend whose package is not installed is skipped, saying so.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    '''
    import numpy as np
    import keras
    from keras import ops
    from hiertcn_keras.layers import (
        TCN, ItemEmbedding, SessionDistributed, SessionGRU, SessionPooling,
    )

    keras.utils.set_random_seed(0)
    B, S, L, D, H, N = 2, 3, 5, 4, 6, 20


    @keras.saving.register_keras_serializable(package="hiertcn_test")
    class TileContext(keras.layers.Layer):
        """[B, S, L, D] steps + [B, S, H] context -> [B, S, L, D + H]."""

        def call(self, steps, context):
            tiled = ops.repeat(ops.expand_dims(context, 2), steps.shape[2], axis=2)
            return ops.concatenate([steps, tiled], axis=-1)

        def compute_output_shape(self, steps_shape, context_shape):
            return (*steps_shape[:-1], steps_shape[-1] + context_shape[-1])


    ids = keras.Input((S, L), batch_size=B, dtype="int32", name="ids")
    step_mask = keras.Input((S, L), batch_size=B, dtype="bool", name="step_mask")
    start = keras.Input((S,), batch_size=B, dtype="bool", name="start")
    session_mask = keras.Input((S,), batch_size=B, dtype="bool", name="session_mask")
    gap = keras.Input((S,), batch_size=B, name="gap")
    items = ItemEmbedding(N, D, name="items")(ids)
    pooled = SessionPooling()(items, step_mask)
    gru = SessionGRU((H,), decay_bandwidth=3600.0, stateful=True, batch_size=B, name="gru")
    context, _ = gru(pooled, start, session_mask, gap)
    low = SessionDistributed(TCN((8, 8), kernel_size=3))(TileContext()(items, context))
    user = keras.layers.Dense(D)(low)
    model = keras.Model([ids, step_mask, start, session_mask, gap], user)
    model.compile(optimizer="adam", loss="mse")

    rng = np.random.default_rng(0)
    def batch(n_batches):
        x_ids = rng.integers(1, N, size=(B * n_batches, S, L)).astype("int32")
        x_ids[:, :, 0] = 0  # the start token
        x_mask = np.ones((B * n_batches, S, L), bool)
        x_mask[0, 2, 3:] = False
        x_start = np.zeros((B * n_batches, S), bool)
        x_start[:B, 0] = True
        x_start[B + 1, 1] = True
        x_session = np.ones((B * n_batches, S), bool)
        x_session[1, 2] = False
        x_gap = rng.uniform(0, 7200, size=(B * n_batches, S)).astype("float32")
        return [x_ids, x_mask, x_start, x_session, x_gap]

    data = batch(2)
    model.fit(data, rng.normal(size=(2 * B, S, L, D)), batch_size=B, epochs=1, verbose=0)
    assert np.abs(ops.convert_to_numpy(gru.state)).sum() > 0, "fit did not carry the state"

    # Stateful carry under the backend's compiled predict == one long stateless call.
    gru.reset_state()
    out = model.predict(data, batch_size=B, verbose=0)
    assert out.shape == (2 * B, S, L, D) and np.isfinite(out).all()
    plain = SessionGRU((H,), decay_bandwidth=3600.0)
    plain.build((None, None, D))
    plain.cells[0].set_weights(gru.cells[0].get_weights())
    emb = model.get_layer("items")
    long_pooled = SessionPooling()(
        emb(np.concatenate([data[0][:B], data[0][B:]], 1)),
        np.concatenate([data[1][:B], data[1][B:]], 1),
    )
    stitch = lambda a: np.concatenate([a[:B], a[B:]], axis=1)
    _, long_final = plain(long_pooled, stitch(data[2]), stitch(data[3]), stitch(data[4]))
    np.testing.assert_allclose(
        ops.convert_to_numpy(gru.state), ops.convert_to_numpy(long_final),
        rtol=1e-4, atol=1e-5,
    )

    # .keras round trip on this backend.
    path = "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    gru.reset_state()
    loaded.get_layer("gru").reset_state()
    first = [a[:B] for a in data]
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(first)), ops.convert_to_numpy(model(first)),
        rtol=1e-6, atol=1e-6,
    )
    print("OK", keras.backend.backend())
    '''
)


@pytest.mark.parametrize("backend, package", [("jax", "jax"), ("torch", "torch")])
def test_small_hiertcn_model_on_backend(backend, package, tmp_path):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed: the {backend} backend check did not run")
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert f"OK {backend}" in result.stdout
