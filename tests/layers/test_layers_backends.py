"""The layers together in a small HierTCN-shaped model on the JAX and PyTorch backends (and the
packed TCN's and GRU4Rec's resets there).

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
    """
    import numpy as np
    import keras
    from keras import ops
    from hiertcn_keras.layers import (
        TCN, ItemEmbedding, SessionDistributed, HighLevelGRU, SessionParallelGRU, SessionPooling,
    )

    keras.utils.set_random_seed(0)
    B, S, L, D, N = 2, 3, 5, 4, 20


    @keras.saving.register_keras_serializable(package="hiertcn_test")
    class TileContext(keras.layers.Layer):
        # [B, S, L, D] steps + [B, S, H] context -> [B, S, L, D + H]
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
    gru = HighLevelGRU((D,), decay_bandwidth=3600.0, stateful=True, batch_size=B, name="gru")
    context, _ = gru(pooled, start, session_mask, gap)
    user = SessionDistributed(TCN((D, D), kernel_size=3))(TileContext()(items, context))
    model = keras.Model([ids, step_mask, start, session_mask, gap], user)
    model.compile(optimizer="sgd", loss="mse")

    rng = np.random.default_rng(0)
    x_ids = rng.integers(1, N, size=(2 * B, S, L)).astype("int32")
    x_ids[:, :, 0] = 0  # the start token
    x_mask = np.ones((2 * B, S, L), bool)
    x_mask[0, 2, 3:] = False
    x_start = np.zeros((2 * B, S), bool)
    x_start[:B, 0] = True  # batch 1: both rows start a user
    x_start[B, 0] = True  # batch 2: row 0 starts a new user, row 1 continues
    x_session = np.ones((2 * B, S), bool)
    x_session[1, 2] = False
    x_gap = rng.uniform(0, 7200, size=(2 * B, S)).astype("float32")
    data = [x_ids, x_mask, x_start, x_session, x_gap]
    first, second = [a[:B] for a in data], [a[B:] for a in data]

    model.fit(first, rng.normal(size=(B, S, L, D)), batch_size=B, verbose=0)
    assert np.abs(ops.convert_to_numpy(gru.state)).sum() > 0, "fit did not carry the state"

    # Under the backend's compiled predict, batch 2 continues batch 1's rows: the row that
    # continues its user sees the carried state, the row that starts a new user does not.
    gru.reset_state()
    both = model.predict(data, batch_size=B, verbose=0)
    assert both.shape == (2 * B, S, L, D) and np.isfinite(both).all()
    gru.reset_state()
    alone = model.predict(second, batch_size=B, verbose=0)
    np.testing.assert_allclose(both[B], alone[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(both[B + 1], alone[1]), "the state was not carried"

    # .keras round trip on this backend (the loaded model starts from a zeroed state).
    model.save("model.keras")
    loaded = keras.models.load_model("model.keras")
    loaded.get_layer("gru").reset_state()
    np.testing.assert_allclose(
        loaded.predict(data, batch_size=B, verbose=0), both, rtol=1e-5, atol=1e-6
    )

    # Packed rows (the flat TCN): two sequences laid end to end equal each one alone.
    tcn = TCN((D, D), kernel_size=3)
    a, b = rng.normal(size=(1, 4, D)).astype("float32"), rng.normal(size=(1, 6, D)).astype("float32")
    starts = np.zeros((1, 10), bool)
    starts[0, [0, 4]] = True
    packed = ops.convert_to_numpy(tcn(np.concatenate([a, b], axis=1), segment_start=starts))
    np.testing.assert_allclose(packed[:, 4:], ops.convert_to_numpy(tcn(b)), rtol=1e-5, atol=1e-5)

    # GRU4Rec's lanes: a session that starts mid-batch equals that session alone.
    lanes = SessionParallelGRU((D,), batch_size=1)
    x = rng.normal(size=(1, 6, D)).astype("float32")
    session_start = np.zeros((1, 6), bool)
    session_start[0, [0, 2]] = True
    mid = ops.convert_to_numpy(lanes(x, session_start))
    lanes.reset_state()
    alone = ops.convert_to_numpy(lanes(x[:, 2:], np.eye(1, 4, dtype=bool)))
    np.testing.assert_allclose(mid[:, 2:], alone, rtol=1e-5, atol=1e-6)
    print("OK", keras.backend.backend())
    """
)


@pytest.mark.parametrize("backend, package", [("jax", "jax"), ("torch", "torch")])
def test_small_hiertcn_model_on_backend(backend, package, tmp_path):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed: the {backend} backend check did not run")
    # XLA's backend optimisations make compiling (most of this test's time on JAX) twice as
    # slow and buy nothing for tensors this small.
    xla_flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0"
    env = {**os.environ, "KERAS_BACKEND": backend, "XLA_FLAGS": xla_flags.strip()}
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
