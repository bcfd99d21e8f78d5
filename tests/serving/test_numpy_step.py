"""`NumpyStep`: the HierTCN user update in NumPy equals the Keras graph, to 1e-5.

Against `UserStep(compiled=False)` (the same Keras graph called eagerly): every session length
0..L (every bucket of steps and its edges), with and without a fold, with the state decay,
several users in one call (every row bucket, more rows than the largest), `many_at` at every
position; for the official and Bai variants of the TCN, a block whose width changes (its
`downsample`), with and without the last-item residual, in both item spaces. A run it cannot
compute (HierGRU) is refused. On the JAX backend (a slow test, in a subprocess), both table
lookups (copied and gathered) equal the eager graph.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.serving.numpy_step import NumpyStep
from hiertcn_keras.serving.online_model import OnlineModel
from hiertcn_keras.serving.user_step import UserStep

N_ITEMS = 12


def build(kind="hiertcn", L=9, **overrides):
    """A small untrained `Recommender` (its weights random, seeded)."""
    settings = dict(model=kind, n_items=N_ITEMS, n_catalogue=N_ITEMS - 1, embedding_dim=6, high_units=(5, 3),
                    tcn_channels=(4, 4), kernel_size=3, low_gru_units=(4,), batch_size=1, sessions_per_batch=2,
                    max_session_len=L, decay_bandwidth=3600.0)
    settings.update(overrides)
    keras.utils.set_random_seed(3)
    config = ModelConfig(**settings)
    matrix = None
    if config.item_space == "pretrained":
        matrix = np.random.default_rng(1).normal(size=(N_ITEMS, 6)).astype(np.float32)
        matrix[0] = 0.0
    return build_recommender(config, item_matrix=matrix)


def model(kind="hiertcn", L=9, **overrides):
    return OnlineModel(build(kind, L, **overrides), warm=False)


def assert_close(ours, theirs):
    for name in ("context", "embedding", "prior_embedding"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), atol=1e-5, rtol=0, err_msg=name)


VARIANTS = {
    "official": {},
    "bai, widths change (downsample), no residual, no decay": dict(tcn_variant="bai", tcn_channels=(4, 7),
                                                                   last_item_residual=False, decay_bandwidth=None),
    "pretrained item space, one high-level layer": dict(item_space="pretrained", high_units=(5,)),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_length_with_and_without_a_fold_equals_the_graph(variant):
    online = model(**VARIANTS[variant])
    ours, graph = NumpyStep(online), UserStep(online, compiled=False)
    rng = np.random.default_rng(0)
    context = rng.normal(size=online.state_size).astype(np.float32)
    for m in range(online.max_session_len + 1):  # every length: every bucket of steps and its edges
        session = rng.integers(1, N_ITEMS, m).tolist()
        for finished, gap in [(None, None), (rng.integers(1, N_ITEMS, 3).tolist(), 5000.0), ([4] * 9, 10.0)]:
            a, b = ours(context, finished, gap, session), graph(context, finished, gap, session)
            np.testing.assert_allclose(a.context, b.context, atol=1e-5, rtol=0)
            np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5, rtol=0)
            if m:
                np.testing.assert_allclose(a.prior_embedding, b.prior_embedding, atol=1e-5, rtol=0)
            else:
                assert a.prior_embedding is None and b.prior_embedding is None
            if finished is None:
                np.testing.assert_array_equal(a.context, context)
            else:
                assert not np.allclose(a.context, context)


@pytest.mark.parametrize("q", [1, 3, 16, 21])
def test_many_users_packed_equal_the_graph(q):
    online = model()
    ours, graph = NumpyStep(online), UserStep(online, compiled=False, batch_sizes=(1, 4, 16))
    rng = np.random.default_rng(q)
    contexts = rng.normal(size=(q, online.state_size)).astype(np.float32)
    sessions = [rng.integers(1, N_ITEMS, rng.integers(0, online.max_session_len + 1)).tolist() for _ in range(q)]
    finished = [rng.integers(1, N_ITEMS, rng.integers(1, 10)).tolist() if rng.random() < 0.5 else None
                for _ in range(q)]
    gaps = [float(rng.uniform(0, 9000)) if f is not None else None for f in finished]
    assert_close(ours.many(contexts, finished, gaps, sessions), graph.many(contexts, finished, gaps, sessions))
    positions = [list(range(len(s) + 1)) for s in sessions]
    ours_context, ours_u = ours.many_at(contexts, finished, gaps, sessions, positions)
    graph_context, graph_u = graph.many_at(contexts, finished, gaps, sessions, positions)
    np.testing.assert_allclose(ours_context, graph_context, atol=1e-5, rtol=0)
    for a, b in zip(ours_u, graph_u):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def test_a_large_table_is_gathered_from_the_variable_not_copied():
    online = model()
    ours, graph = NumpyStep(online, copy_table_bytes=0), UserStep(online, compiled=False)  # every table is large
    rng = np.random.default_rng(4)
    contexts = rng.normal(size=(4, online.state_size)).astype(np.float32)
    args = (contexts, [None, [3, 4, 11], None, [1]], [None, 50.0, None, 7.0], [[1, 11, 2], [], [5], [4]])
    assert_close(ours.many(*args), graph.many(*args))


def test_a_given_table_is_used_only_when_it_is_the_models():
    online = model(item_space="pretrained")
    table = keras.ops.convert_to_numpy(online.steps.embedding.table).copy()
    graph = UserStep(online, compiled=False)
    contexts = np.random.default_rng(6).normal(size=(2, online.state_size)).astype(np.float32)
    args = (contexts, [None, [3, 4]], [None, 50.0], [[1, 11, 2], [5]])
    step = NumpyStep(online, table=table)
    assert step.table_source == "given"
    assert_close(step.many(*args), graph.many(*args))
    other = table.copy()
    other[7, 0] += 1e-3  # one value differs: the model's own table is read
    assert NumpyStep(online, table=other).table_source == "copy"
    assert NumpyStep(online, table=table[:-1]).table_source == "copy"  # another shape
    assert NumpyStep(online, table=other, copy_table_bytes=0).table_source == "gather"
    step = NumpyStep(online, table=table)
    table[:] = 0.0  # proof it reads the given array (a test of the source, not a use case)
    assert not np.allclose(step.many(*args).embedding, graph.many(*args).embedding)


def test_an_empty_finished_session_folds_as_the_graph_does():
    online = model()
    ours, graph = NumpyStep(online), UserStep(online, compiled=False)
    contexts = np.random.default_rng(5).normal(size=(3, online.state_size)).astype(np.float32)
    args = (contexts, [[], [3, 4], []], [10.0, 20.0, 30.0], [[1], [], [2, 5]])
    assert_close(ours.many(*args), graph.many(*args))


def test_no_users_and_bad_input():
    online = model(L=3)
    step = NumpyStep(online)
    batch = step.many(np.zeros((0, online.state_size), np.float32), [], [], [])
    assert len(batch) == 0 and batch.embedding.shape == (0, online.output_dim)
    with pytest.raises(ValueError, match="at most L = 3"):
        step(np.zeros(online.state_size, np.float32), None, None, [1, 2, 3, 4])
    with pytest.raises(ValueError, match="positions must lie"):
        step.many_at(np.zeros((1, online.state_size), np.float32), [None], [None], [[1]], [[2]])


def test_verify_passes_and_catches_a_wrong_weight():
    online = model()
    step = NumpyStep(online)
    assert step.verify(UserStep(online, compiled=False)) <= 1e-5
    step._output.bias = step._output.bias + 1e-3  # a wrong weight is caught
    with pytest.raises(ValueError, match="differs from the Keras graph"):
        step.verify(UserStep(online, compiled=False))


def test_a_reset_after_gru_cell_equals_keras():
    from hiertcn_keras.serving import numpy_step

    cell = keras.layers.GRUCell(5, reset_after=True, bias_initializer="random_normal")
    rng = np.random.default_rng(0)
    x, h = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    expected, _ = cell(x, [h])
    np.testing.assert_allclose(numpy_step._GRUCell(cell)(x, h), keras.ops.convert_to_numpy(expected), atol=1e-6)


def test_hiergru_is_refused():
    with pytest.raises(ValueError, match="HierTCN"):
        NumpyStep(model("hiergru"))


def test_the_raw_log_in_batches_equals_the_compiled_step_event_by_event(learned_run, raw_log_rows, compiled_steps):
    """The served path end to end: batches of 7 events of the interleaved raw log (several users
    per batch, folds, repeats) through `NumpyStep` give the compiled step's per-event numbers
    and stored states, and `recommend` the same ranking."""
    from hiertcn_keras.serving.online_recommender import OnlineRecommender

    one = OnlineRecommender.open(learned_run, store="memory:", step=compiled_steps(learned_run))
    single = [one.observe(*row) for row in raw_log_rows]
    rec = OnlineRecommender.open(learned_run, store="memory:", step="numpy")
    assert isinstance(rec.step, NumpyStep)
    batched = []
    for start in range(0, len(raw_log_rows), 7):
        result = rec.observe_batch(raw_log_rows[start : start + 7])
        assert result.error is None
        batched.extend(result.observations)
    assert [o.status for o in batched] == [o.status for o in single]
    assert sum(o.status == "new_session" for o in single) > 10
    for a, b in zip(batched, single):
        assert a.position == b.position and a.session == b.session
        for x, y in ((a.embedding, b.embedding), (a.prior_embedding, b.prior_embedding)):
            assert (x is None) == (y is None)
            if x is not None:
                np.testing.assert_allclose(x, y, atol=1e-5, rtol=0)
    last = raw_log_rows[-1][2]
    for user in {row[0] for row in raw_log_rows}:
        mine, theirs = rec.state_of(user), one.state_of(user)
        np.testing.assert_allclose(mine.context, theirs.context, atol=1e-5, rtol=0)
        assert (mine.session, mine.n_events, mine.n_sessions) == (theirs.session, theirs.n_events, theirs.n_sessions)
        for at in (None, last + 10 * 86400.0):  # the open session, and a fold computed at `at`
            np.testing.assert_allclose(rec.embedding(user, at), one.embedding(user, at), atol=1e-5, rtol=0)
        assert rec.recommend(user, k=5).items == one.recommend(user, k=5).items


def test_auto_picks_numpy_for_hiertcn_and_falls_back_with_a_warning(monkeypatch):
    """`user_update`: `auto` is NumPy for HierTCN, compiled for HierGRU (no NumPy update), and
    compiled with a warning when the NumPy update disagrees with the graph; `numpy` then refuses."""
    from types import SimpleNamespace

    from hiertcn_keras.serving import online_recommender

    # The graph eagerly in place of the XLA step: the choice is under test, not the compiler.
    monkeypatch.setattr(online_recommender, "UserStep", lambda m, **kw: UserStep(m, **{**kw, "compiled": False}))
    run = SimpleNamespace(recommender=build())
    assert isinstance(online_recommender.user_update(run, "auto")[1], NumpyStep)
    assert isinstance(online_recommender.user_update(SimpleNamespace(recommender=build("hiergru")), "auto")[1],
                      UserStep)
    assert isinstance(online_recommender.user_update(run, "compiled")[1], UserStep)

    def disagree(self, graph_step, **kwargs):
        raise ValueError("NumpyStep differs from the Keras graph by 1 (> 1e-05)")

    monkeypatch.setattr(NumpyStep, "verify", disagree)
    with pytest.warns(UserWarning, match="cannot serve this run exactly"):
        assert isinstance(online_recommender.user_update(run, "auto")[1], UserStep)
    with pytest.raises(ValueError, match="differs from the Keras graph"):
        online_recommender.user_update(run, "numpy")
    with pytest.raises(ValueError, match="step must be one of"):
        online_recommender.user_update(run, "fast")


JAX_SCRIPT = textwrap.dedent(
    """
    import numpy as np, keras
    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.serving import numpy_step
    from hiertcn_keras.serving.online_model import OnlineModel
    from hiertcn_keras.serving.user_step import UserStep
    config = ModelConfig(model="hiertcn", n_items=12, n_catalogue=11, embedding_dim=6, high_units=(5, 3),
                         tcn_channels=(4, 4), kernel_size=3, batch_size=1, sessions_per_batch=2, max_session_len=5,
                         decay_bandwidth=3600.0)
    online = OnlineModel(build_recommender(config), warm=False)
    eager = UserStep(online, compiled=False, batch_sizes=(1, 4))
    rng = np.random.default_rng(0)
    contexts = rng.normal(size=(3, online.state_size)).astype(np.float32)
    args = (contexts, [None, [1, 2], [3]], [None, 60.0, 9000.0], [[4], [5, 6, 7], []])
    for copy_bytes in (None, 0):  # the copied table, then the gather
        a, b = numpy_step.NumpyStep(online, copy_table_bytes=copy_bytes).many(*args), eager.many(*args)
        for x, y in ((a.context, b.context), (a.embedding, b.embedding), (a.prior_embedding, b.prior_embedding)):
            np.testing.assert_allclose(x, y, atol=1e-5, rtol=0)
    print("OK", keras.backend.backend())
    """
)


@pytest.mark.slow
def test_numpy_step_on_jax_equals_the_eager_graph(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: the JAX backend was not checked")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "OK jax" in result.stdout
