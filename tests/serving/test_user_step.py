"""`UserStep`: the fused, compiled user update equals its eager graph and the two-call reference.

Compiled (TensorFlow: XLA, one concrete function per bucket of session length) against the
same Keras graph called eagerly, and against `ReferenceStep` (`OnlineModel.fold` + `embed` over
all L + 1 steps), to 1e-5: with and without a fold, with the decay, at every session length
(every bucket, its edges included), for HierTCN and HierGRU. `many` (Q users in one call, rows
padded to a batch bucket, more rows than the largest bucket in several calls) equals the
users one by one, to 1e-5.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.serving.online_model import OnlineModel
from hiertcn_keras.serving.user_step import ReferenceStep, UserStep


def model(kind, L=9):
    config = ModelConfig(model=kind, n_items=12, n_catalogue=11, embedding_dim=6, high_units=(5, 3),
                         tcn_channels=(4, 4), kernel_size=3, low_gru_units=(4,), batch_size=1, sessions_per_batch=2,
                         max_session_len=L, decay_bandwidth=3600.0)
    return OnlineModel(build_recommender(config))


@pytest.mark.parametrize("kind", ["hiertcn", "hiergru"])
def test_compiled_step_equals_eager_and_reference(kind):
    online = model(kind)
    compiled, eager, reference = UserStep(online), UserStep(online, compiled=False), ReferenceStep(online)
    assert compiled.buckets == [2, 4, 8, 10]
    rng = np.random.default_rng(0)
    context = rng.normal(size=online.state_size).astype(np.float32)
    for m in range(0, online.max_session_len + 1):  # every length: every bucket and its edges
        session = rng.integers(1, 12, m).tolist()
        for finished, gap in [(None, None), (rng.integers(1, 12, 3).tolist(), 5000.0), ([4] * 9, 10.0)]:
            outs = [step(context, finished, gap, session) for step in (compiled, eager, reference)]
            for other in outs[1:]:
                np.testing.assert_allclose(outs[0].context, other.context, atol=1e-5, rtol=0)
                np.testing.assert_allclose(outs[0].embedding, other.embedding, atol=1e-5, rtol=0)
                if m:
                    np.testing.assert_allclose(outs[0].prior_embedding, other.prior_embedding, atol=1e-5, rtol=0)
                else:
                    assert other.prior_embedding is None
            if finished is None:
                np.testing.assert_array_equal(outs[0].context, context)  # no fold: the context as stored
            else:
                assert not np.allclose(outs[0].context, context)


def test_a_session_longer_than_L_is_refused():
    online = model("hiertcn", L=3)
    with pytest.raises(ValueError, match="at most L = 3"):
        UserStep(online, compiled=False)(np.zeros(online.state_size, np.float32), None, None, [1, 2, 3, 4])


@pytest.fixture(scope="module")
def batched():
    online = model("hiertcn")
    return online, UserStep(online, batch_sizes=(1, 4, 16))


@pytest.mark.parametrize("q", [3, 21])
def test_many_users_in_one_call_equal_one_by_one(q, batched):
    online, step = batched  # 3 rows: one call of 4 (1 padding); 21: a call of 16, then 5 rows in one of 16
    rng = np.random.default_rng(q)
    contexts = rng.normal(size=(q, online.state_size)).astype(np.float32)
    sessions = [rng.integers(1, 12, rng.integers(0, online.max_session_len + 1)).tolist() for _ in range(q)]
    finished = [rng.integers(1, 12, rng.integers(1, 10)).tolist() if rng.random() < 0.5 else None for _ in range(q)]
    gaps = [float(rng.uniform(0, 9000)) if f is not None else None for f in finished]
    batch = step.many(contexts, finished, gaps, sessions)
    assert batch.context.shape == (q, online.state_size) and batch.embedding.shape == (q, online.output_dim)
    reference = ReferenceStep(online).many(contexts, finished, gaps, sessions)
    for row in range(q):
        one = step(contexts[row], finished[row], gaps[row], sessions[row])
        for other in (batch.row(row), reference.row(row)):
            np.testing.assert_allclose(other.context, one.context, atol=1e-5, rtol=0)
            np.testing.assert_allclose(other.embedding, one.embedding, atol=1e-5, rtol=0)
            if sessions[row]:
                np.testing.assert_allclose(other.prior_embedding, one.prior_embedding, atol=1e-5, rtol=0)
            else:
                assert other.prior_embedding is None and one.prior_embedding is None


def test_many_at_reads_every_position_of_one_call(batched):
    """Several events of one session in one row: positions 0..m of one call equal a call per prefix."""
    online, step = batched
    rng = np.random.default_rng(7)
    q = 5
    contexts = rng.normal(size=(q, online.state_size)).astype(np.float32)
    sessions = [rng.integers(1, 12, m).tolist() for m in (1, 3, 9, 5, 0)]
    finished = [None, [2, 3], None, [5] * 9, [1]]
    gaps = [None, 4000.0, None, 10.0, 50.0]
    positions = [list(range(len(s) + 1)) for s in sessions]
    context, embeddings = step.many_at(contexts, finished, gaps, sessions, positions)
    ref_context, ref_embeddings = ReferenceStep(online).many_at(contexts, finished, gaps, sessions, positions)
    np.testing.assert_allclose(context, ref_context, atol=1e-5, rtol=0)
    for row in range(q):
        np.testing.assert_allclose(embeddings[row], ref_embeddings[row], atol=1e-5, rtol=0)
        for m in range(len(sessions[row]) + 1):  # the prefix's own call: its bucket T, its embedding at m
            one = step(contexts[row], finished[row], gaps[row], sessions[row][:m])
            np.testing.assert_allclose(embeddings[row][m], one.embedding, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="positions must lie in 0..1"):
        step.many_at(contexts[:1], [None], [None], [[4]], [[2]])


def test_many_checks_its_arguments():
    online = model("hiertcn", L=3)
    step = UserStep(online, compiled=False, batch_sizes=(1, 2))  # the checks do not depend on compiling
    zeros = np.zeros((2, online.state_size), np.float32)
    with pytest.raises(ValueError, match="one entry per user"):
        step.many(zeros, [None], [None, None], [[1], [2]])
    with pytest.raises(ValueError, match="at most L = 3"):
        step.many(zeros, [None, [1, 2, 3, 4]], [None, 5.0], [[1], [2]])
    with pytest.raises(ValueError, match="must include 1"):
        UserStep(online, batch_sizes=(2, 4))
    assert len(step.many(zeros[:0], [], [], [])) == 0
    assert step.warm() == len(step.buckets) * 2  # every bucket of steps × rows, compiled once


JAX_SCRIPT = textwrap.dedent(
    """
    import numpy as np, keras
    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.serving.online_model import OnlineModel
    from hiertcn_keras.serving.user_step import UserStep
    config = ModelConfig(model="hiertcn", n_items=12, n_catalogue=11, embedding_dim=6, high_units=(5, 3),
                         tcn_channels=(4, 4), kernel_size=3, batch_size=1, sessions_per_batch=2, max_session_len=5,
                         decay_bandwidth=3600.0)
    online = OnlineModel(build_recommender(config))
    jitted, eager = UserStep(online, batch_sizes=(1, 4)), UserStep(online, compiled=False, batch_sizes=(1, 4))
    rng = np.random.default_rng(0)
    contexts = rng.normal(size=(3, online.state_size)).astype(np.float32)
    args = (contexts, [None, [1, 2], [3]], [None, 60.0, 9000.0], [[4], [5, 6, 7], []])
    a, b = jitted.many(*args), eager.many(*args)
    for x, y in ((a.context, b.context), (a.embedding, b.embedding), (a.prior_embedding, b.prior_embedding)):
        np.testing.assert_allclose(x, y, atol=1e-5, rtol=0)
    print("OK", keras.backend.backend())
    """
)


@pytest.mark.slow
def test_the_step_under_jax_jit_equals_eager(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed: the jax.jit step did not run")
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "OK jax" in result.stdout
