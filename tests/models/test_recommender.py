"""`Recommender`: every model × item space trains, saves and loads; the loss glue is exact.

Tiny sizes: B = 2 rows, S = 2 session slots, L = 4 steps, T = 8 flat steps, widths 8, a
catalogue of 10 items (ids 1..10) plus one item (11) outside it; pretrained vectors have D = 6.

Training runs eagerly (`run_eagerly=True`: no graph tracing, a few hundred ms per step at these
sizes); one test trains through a traced `tf.function` (`jit_compile=False`), and the XLA
variant is marked slow. Losses that sample negatives are compared before and after training
with the sampler's seed state restored, so both numbers use the same negatives. A subprocess
with `KERAS_BACKEND=jax` (and `torch`) trains, saves and reloads a tiny HierTCN (slow; skipped,
saying why, where the backend is not installed).
"""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from hiertcn_keras.models.config import NEURAL_MODELS, ModelConfig
from hiertcn_keras.models.recommender import Recommender, build_recommender

B, S, L, T, DIM, D_PRE = 2, 2, 4, 8, 8, 6
N_CATALOGUE = 10
N_ITEMS = N_CATALOGUE + 2  # 0 = padding / x̂, 1..10 catalogue, 11 = an item never seen in training

TINY = dict(
    n_items=N_ITEMS, n_catalogue=N_CATALOGUE, embedding_dim=DIM, high_units=(DIM, DIM),
    tcn_channels=(DIM, DIM), kernel_size=2, low_gru_units=(DIM,), hrnn_units=DIM,
    flat_tcn_channels=(DIM, DIM, DIM), flat_gru_units=(DIM,), batch_size=B,
    sessions_per_batch=S, max_session_len=L, flat_len=T, gru_chunk_len=T, n_negatives=5, learning_rate=1e-2,
)

# Every model in both learned losses; each pretrained loss on one model (and the paper's best,
# hinge, also on HierTCN with popularity^α negatives).
CASES = (
    [(name, "learned", "softmax", "uniform") for name in NEURAL_MODELS]
    + [(name, "learned", "sampled_softmax", "uniform") for name in NEURAL_MODELS]
    + [
        ("hiertcn", "pretrained", "l2", "uniform"),
        ("hiergru", "pretrained", "nce", "uniform"),
        ("hrnn", "pretrained", "bpr", "uniform"),
        ("tcn", "pretrained", "hinge", "uniform"),
        ("gru", "pretrained", "hinge_logsigmoid", "uniform"),
        ("hiertcn", "pretrained", "hinge", "popularity"),
        ("hiertcn", "learned", "sampled_softmax", "in_batch"),  # the large-catalogue default
    ]
)
CASE_IDS = ["-".join(case[:3]) + {"popularity": "-pop", "in_batch": "-in-batch"}.get(case[3], "") for case in CASES]

ITEM_MATRIX = np.random.default_rng(0).normal(size=(N_ITEMS, D_PRE)).astype("float32")
ITEM_COUNTS = np.array([0, 9, 7, 5, 4, 3, 3, 2, 2, 1, 1, 0], dtype=np.int64)


def make_config(name, space="learned", loss="softmax", negatives="uniform"):
    """`negatives`: `uniform` or `popularity` shared negatives alone, or `in_batch` (popularity and in-batch)."""
    in_batch = negatives == "in_batch"
    return ModelConfig(model=name, item_space=space, loss=loss,
                       negative_distribution="popularity" if in_batch else negatives,
                       in_batch_negatives=in_batch and loss == "sampled_softmax", **TINY)


def make_recommender(config):
    matrix = ITEM_MATRIX if config.item_space == "pretrained" else None
    return build_recommender(config, item_matrix=matrix, item_counts=ITEM_COUNTS)


def make_batch(config, seed=0):
    """A batch as the queue batcher makes it: shifted inputs, padding at the end, score flags.

    Row 1 is padded (a short last session, or a short last chunk); item 11 (outside the
    catalogue) sits at one real position with `score` False, as evaluation views have it.
    """
    rng = np.random.default_rng(seed)
    if config.hierarchical:
        items = rng.integers(1, N_CATALOGUE + 1, size=(B, S, L)).astype("int32")
        items[1, 1, 2:] = 0
        items[0, 1, 1] = N_ITEMS - 1
        mask = items > 0
        inputs = np.zeros_like(items)
        inputs[..., 1:] = items[..., :-1]
        inputs[~mask] = 0
        start = np.zeros((B, S), bool)
        start[:, 0] = True
        return {
            "items": items, "inputs": inputs, "mask": mask, "score": mask & (items <= N_CATALOGUE),
            "session_mask": mask[..., 0].copy(), "user_start": start, "gap": np.zeros((B, S), "float32"),
            "user": np.array([[1, 1], [2, 2]], "int32"),
        }
    items = rng.integers(1, N_CATALOGUE + 1, size=(B, T)).astype("int32")
    items[1, 5:] = 0
    items[0, 3] = N_ITEMS - 1
    inputs = np.zeros_like(items)
    inputs[:, 1:] = items[:, :-1]
    inputs[items == 0] = 0
    mask = items > 0
    return {
        "items": items, "inputs": inputs, "mask": mask, "score": mask & (items <= N_CATALOGUE),
        "user_start": np.ones(B, bool), "user": np.array([1, 2], "int32"),
        "segment_start": np.arange(T)[None, :].repeat(B, 0) == 0,  # packed models: one segment per row
    }


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def predict(rec, batch):
    rec.reset_states()
    return to_numpy(rec(batch))


def loss_of(rec, batch, u=None, seed_state=None):
    """compute_loss as a float, with the sampler's seed state set first (same negatives)."""
    if seed_state is not None:
        rec.sampler.seed_generator.state.assign(seed_state)
    if u is None:
        u = rec(batch)
    return float(to_numpy(rec.compute_loss(x=batch, y_pred=u)))


def seed_state_of(rec):
    return None if rec.sampler is None else to_numpy(rec.sampler.seed_generator.state.value)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Per case: the model trained 2 steps, the losses before/after, and the saved model path."""
    cache = {}

    def get(case):
        if case not in cache:
            keras.utils.set_random_seed(0)
            config = make_config(*case)
            rec = make_recommender(config)
            batch = make_batch(config)
            rec.reset_states()
            state = seed_state_of(rec)
            before = loss_of(rec, batch, seed_state=state)
            rec.compile(optimizer=keras.optimizers.Adam(config.learning_rate), run_eagerly=True)
            steps = [float(to_numpy(rec.train_on_batch(batch))) for _ in range(2)]
            after = loss_of(rec, batch, seed_state=state)
            path = tmp_path_factory.mktemp("saved") / f"{'-'.join(case)}.keras"
            rec.save(path)
            cache[case] = dict(rec=rec, batch=batch, before=before, after=after, steps=steps, path=path)
        return cache[case]

    return get


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_trains_with_a_finite_decreasing_loss(trained, case):
    result = trained(case)
    assert np.isfinite([result["before"], result["after"], *result["steps"]]).all()
    # The same batch, the same negatives: two Adam steps (lr 1e-2) must lower the loss.
    assert result["after"] < result["before"], (result["before"], result["after"])
    assert result["before"] > 0


@pytest.mark.parametrize("name", ["tcn", "hiertcn"])
def test_sampled_softmax_weights_stay_finite_with_padded_events(name):
    # Regression: a padded event's target is 0, whose log Q is −inf; its loss (+inf − inf = NaN)
    # was dropped by the masked mean in the forward pass but not in the gradient (0 · NaN), so
    # one training step on any padded batch turned every weight into NaN.
    keras.utils.set_random_seed(0)
    config = make_config(name, "learned", "sampled_softmax")
    rec = make_recommender(config)
    batch = make_batch(config)
    assert not batch["score"].all()
    rec.compile(optimizer=keras.optimizers.Adam(config.learning_rate), run_eagerly=True)
    rec.train_on_batch(batch)
    assert all(np.isfinite(to_numpy(w)).all() for w in rec.trainable_weights)


# Every model in each item space: the learned one through sampled softmax (the sampler is saved
# too), the pretrained one through its loss above. Plain softmax adds nothing to the file.
ROUND_TRIP_CASES = [case for case in CASES if case[2] != "softmax"]
ROUND_TRIP_IDS = [case_id for case, case_id in zip(CASES, CASE_IDS) if case[2] != "softmax"]


@pytest.mark.parametrize("case", ROUND_TRIP_CASES, ids=ROUND_TRIP_IDS)
def test_keras_file_round_trip_gives_identical_predictions(trained, case):
    result = trained(case)
    rec, batch = result["rec"], result["batch"]
    loaded = keras.models.load_model(result["path"])  # no custom_objects: all registered
    assert isinstance(loaded, Recommender)
    assert loaded.model_config == rec.model_config
    np.testing.assert_array_equal(loaded.item_counts, ITEM_COUNTS)
    # Both from a reset state (the carried state is a weight and was saved mid-stream).
    np.testing.assert_array_equal(predict(loaded, batch), predict(rec, batch))
    for a, b in zip(loaded.item_table(), rec.item_table()):
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    # The objective round-trips too (sampler distribution, counts, seed state).
    state = seed_state_of(rec)
    rec.reset_states()
    expected = loss_of(rec, batch, seed_state=state)
    loaded.reset_states()
    assert loss_of(loaded, batch, seed_state=state) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("case", [
    ("hiertcn", "learned", "softmax", "uniform"),
    ("hrnn", "learned", "sampled_softmax", "uniform"),
    ("gru", "learned", "softmax", "uniform"),
    ("hiergru", "pretrained", "hinge", "popularity"),
    ("tcn", "pretrained", "l2", "uniform"),
], ids=lambda case: "-".join(case[:3]))
def test_padding_and_unscored_events_add_exactly_nothing(case):
    keras.utils.set_random_seed(0)
    config = make_config(*case)
    rec = make_recommender(config)
    batch = make_batch(config)
    state = seed_state_of(rec)
    rec.reset_states()
    u = rec(batch)
    base = loss_of(rec, batch, u, seed_state=state)
    # 1. Padded positions (mask and score False): any item there, through the whole model.
    padded = {k: v.copy() for k, v in batch.items()}
    padded["items"][~batch["mask"]] = 7
    rec.reset_states()
    u_padded = rec(padded)
    np.testing.assert_array_equal(to_numpy(u_padded), to_numpy(u))
    assert loss_of(rec, padded, u_padded, seed_state=state) == base
    # 2. Real but unscored targets (item 11, outside the catalogue): same u, any target id.
    unscored = {k: v.copy() for k, v in batch.items()}
    unscored["items"][batch["mask"] & ~batch["score"]] = 3
    assert loss_of(rec, unscored, u, seed_state=state) == base
    # ... while changing a scored target does change the loss (the last one: at a user's first
    # step an untrained model's u is exactly 0, zero biases on a zero input, so all items tie).
    scored = {k: v.copy() for k, v in batch.items()}
    last = tuple(np.argwhere(batch["score"])[-1])
    scored["items"][last] = scored["items"][last] % N_CATALOGUE + 1
    assert loss_of(rec, scored, u, seed_state=state) != base


def _np_logits(rec, u):
    kernel, bias = (to_numpy(t) for t in rec.item_table())
    logits = u.reshape(-1, u.shape[-1]) @ kernel.T + bias
    logits[:, 0] = -1e9  # column 0 (padding / x̂) is never a candidate
    return logits


@pytest.mark.parametrize("name", ["hiertcn", "gru"])
def test_learned_loss_is_one_softmax_cross_entropy(name):
    keras.utils.set_random_seed(0)
    rec = make_recommender(make_config(name))
    batch = make_batch(rec.model_config)
    u = predict(rec, batch)
    # NumPy: per scored event, logsumexp(z) − z_target over the catalogue (columns 0..10),
    # averaged over scored events. A softmax applied twice would give a different number.
    z = _np_logits(rec, u)
    targets = batch["items"].reshape(-1)
    score = batch["score"].reshape(-1)
    top = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    expected = (lse - z[np.arange(len(z)), np.where(score, targets, 0)])[score].mean()
    assert loss_of(rec, batch, u) == pytest.approx(expected, rel=1e-5)
    # With untrained weights the loss is close to log(catalogue size) = log 10 = 2.30.
    assert expected == pytest.approx(np.log(N_CATALOGUE), abs=0.2)


def test_pretrained_l2_loss_regresses_onto_the_frozen_vectors():
    keras.utils.set_random_seed(0)
    rec = make_recommender(make_config("hiertcn", "pretrained", "l2"))
    batch = make_batch(rec.model_config)
    u = predict(rec, batch).reshape(-1, D_PRE)
    score = batch["score"].reshape(-1)
    y = ITEM_MATRIX[batch["items"].reshape(-1)]
    expected = ((u - y) ** 2).sum(axis=1)[score].mean()  # Σ_d (u − y)², mean over scored
    assert loss_of(rec, batch) == pytest.approx(expected, rel=1e-5)


def test_learned_output_never_ranks_index_zero():
    keras.utils.set_random_seed(0)
    rec = make_recommender(make_config("tcn").replace(tied_embeddings=False))
    batch = make_batch(rec.model_config)
    u = predict(rec, batch).reshape(-1, DIM)
    # Make row 0 of the output table as attractive as possible: it must still be masked.
    kernel = to_numpy(rec.output_items.kernel)
    kernel[0] = 100.0 * u.mean(axis=0)
    bias = np.zeros(N_CATALOGUE + 1, "float32")
    bias[0] = 1e6
    rec.output_items.kernel.assign(kernel)
    rec.output_items.bias.assign(bias)
    logits = to_numpy(rec.output_items(u))
    assert logits.shape == (B * T, N_CATALOGUE + 1)
    np.testing.assert_array_equal(logits[:, 0], np.full(B * T, -1e9, "float32"))
    assert (logits.argmax(axis=1) > 0).all()
    np.testing.assert_allclose(logits[:, 1:], u @ kernel[1:].T, rtol=1e-5, atol=1e-4)


# Tracing takes ~4 s, XLA ~8–20 s on 2 cores (slow); the trainer test also trains traced.
@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_trains_in_a_traced_step(jit_compile):
    keras.utils.set_random_seed(0)
    config = make_config("hiertcn", "learned", "sampled_softmax", "in_batch")
    rec = make_recommender(config)
    batch = make_batch(config)
    state = seed_state_of(rec)
    before = loss_of(rec, batch, seed_state=state)
    rec.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit_compile)
    losses = [float(to_numpy(rec.train_on_batch(batch))) for _ in range(2)]
    rec.reset_states()
    assert np.isfinite(losses).all() and loss_of(rec, batch, seed_state=state) < before


BACKEND_SCRIPT = textwrap.dedent(
    """
    import sys
    import keras
    import numpy as np
    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.models.recommender import build_recommender

    assert keras.backend.backend() == sys.argv[2], keras.backend.backend()
    keras.utils.set_random_seed(0)
    B, S, L, N = 2, 2, 4, 12
    config = ModelConfig(model="hiertcn", n_items=N, n_catalogue=10, embedding_dim=8, high_units=(8, 8),
                         tcn_channels=(8, 8), kernel_size=2, batch_size=B, sessions_per_batch=S,
                         max_session_len=L, loss="sampled_softmax", n_negatives=5)
    rec = build_recommender(config, item_counts=np.arange(N))  # popularity and in-batch negatives (defaults)
    assert config.in_batch_negatives and config.negative_distribution == "popularity"
    items = np.random.default_rng(0).integers(1, 11, size=(B, S, L)).astype("int32")
    items[1, 1, 2:] = 0
    mask = items > 0
    inputs = np.zeros_like(items)
    inputs[..., 1:] = items[..., :-1]
    inputs[~mask] = 0
    start = np.zeros((B, S), bool)
    start[:, 0] = True
    batch = {"items": items, "inputs": inputs, "mask": mask, "score": mask, "session_mask": mask[..., 0],
             "user_start": start, "gap": np.zeros((B, S), "float32")}
    rec.compile(optimizer=keras.optimizers.Adam(1e-2))  # jit_compile="auto": XLA on JAX
    loss = float(keras.ops.convert_to_numpy(rec.train_on_batch(batch)))
    assert np.isfinite(loss), loss
    path = sys.argv[1]
    rec.save(path)
    loaded = keras.models.load_model(path)
    outputs = []
    for model in (rec, loaded):
        model.reset_states()
        outputs.append(np.asarray(model.predict_on_batch(batch)))
    np.testing.assert_array_equal(outputs[1], outputs[0])
    print("OK", keras.backend.backend(), loss)
    """
)


@pytest.mark.slow  # 25–60 s on 2 cores: imports, a JAX build of HierTCN (~11 s), XLA compile
@pytest.mark.parametrize("backend, module", [("jax", "jax"), ("torch", "torch")])
def test_other_backend_trains_saves_and_loads(backend, module, tmp_path):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"`import {module}` fails in {sys.executable}: the {backend} backend is not installed")
    env = dict(os.environ, KERAS_BACKEND=backend)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", BACKEND_SCRIPT, str(tmp_path / "hiertcn.keras"), backend],
        env=env, cwd=root, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"OK {backend}" in done.stdout


def _tied(name="hiertcn", loss="softmax"):
    keras.utils.set_random_seed(0)
    # Uniform shared negatives alone (the sampled softmax's defaults add popularity and in-batch ones).
    config = ModelConfig(model=name, loss=loss, tied_embeddings=True, negative_distribution="uniform",
                         in_batch_negatives=False, **TINY)
    rec = make_recommender(config)
    batch = make_batch(config)
    predict(rec, batch)  # build
    rng = np.random.default_rng(3)
    rec.output_items.bias.assign(rng.normal(size=N_CATALOGUE + 1).astype("float32"))
    return rec, batch


def test_tied_logits_are_u_times_the_input_table_plus_bias():
    rec, batch = _tied()
    assert rec.output_items.kernel is None and rec.output_items.tied
    table = to_numpy(rec.user_model.get_layer("item_embedding").table)[: N_CATALOGUE + 1]
    table[0] = 0.0
    kernel, bias = (to_numpy(t) for t in rec.item_table())
    np.testing.assert_array_equal(kernel, table)  # the scoring table IS the input table
    u = predict(rec, batch).reshape(-1, DIM)
    logits = to_numpy(rec.output_items(u, rec.item_table()[0]))
    expected = u @ table.T + bias
    np.testing.assert_allclose(logits[:, 1:], expected[:, 1:], rtol=1e-5, atol=1e-6)
    assert (logits[:, 0] <= -1e8).all()
    # The loss is one softmax cross-entropy over those logits.
    z = _np_logits(rec, u)
    targets, score = batch["items"].reshape(-1), batch["score"].reshape(-1)
    top = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    expected_loss = (lse - z[np.arange(len(z)), np.where(score, targets, 0)])[score].mean()
    assert loss_of(rec, batch) == pytest.approx(expected_loss, rel=1e-5)


def test_tied_sampled_softmax_is_log_q_corrected_over_the_input_table():
    rec, batch = _tied("tcn", "sampled_softmax")
    state = seed_state_of(rec)
    sampled = to_numpy(rec.sampler.sample(TINY["n_negatives"]))
    u = predict(rec, batch).reshape(-1, DIM)
    kernel, bias = (to_numpy(t) for t in rec.item_table())
    log_q = np.log(1.0 / N_CATALOGUE)  # uniform over items 1..10
    targets, score = batch["items"].reshape(-1), batch["score"].reshape(-1)
    losses = []
    for n in np.flatnonzero(score):
        t = targets[n]
        z_t = u[n] @ kernel[t] + bias[t] - log_q
        z_s = u[n] @ kernel[sampled].T + bias[sampled] - log_q
        z_s = z_s[sampled != t]  # accidental hits removed
        z = np.concatenate([[z_t], z_s])
        losses.append(np.log(np.exp(z - z.max()).sum()) + z.max() - z_t)
    assert loss_of(rec, batch, seed_state=state) == pytest.approx(np.mean(losses), rel=1e-5)


def test_tied_model_trains_and_round_trips(tmp_path):
    rec, batch = _tied("gru")
    rec.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    before = loss_of(rec, batch)
    for _ in range(2):
        rec.train_on_batch(batch)
    assert loss_of(rec, batch) < before
    path = tmp_path / "tied.keras"
    rec.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.model_config.tied_embeddings and loaded.output_items.kernel is None
    np.testing.assert_array_equal(predict(loaded, batch), predict(rec, batch))
    for mine, theirs in zip(rec.item_table(), loaded.item_table()):
        np.testing.assert_array_equal(to_numpy(mine), to_numpy(theirs))


@pytest.mark.parametrize("changes, message", [
    ({"tied_embeddings": True, "output_dim": 4}, "output_dim == embedding_dim"),
    ({"dropout": 1.0}, "dropout"),
    ({"embedding_dropout": -0.1}, "embedding_dropout"),
    ({"weight_decay": -1.0}, "weight_decay"),
])
def test_regularisation_settings_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(model="hiertcn", **{**TINY, **changes})


@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_every_model_honours_dropout_in_training_only(name):
    keras.utils.set_random_seed(0)
    config = ModelConfig(model=name, dropout=0.5, embedding_dropout=0.5, **TINY)
    rec = make_recommender(config)
    batch = make_batch(config)
    first, second = predict(rec, batch), predict(rec, batch)
    np.testing.assert_array_equal(first, second)  # inference: deterministic
    rec.reset_states()
    trained = to_numpy(rec(batch, training=True))
    assert np.abs(trained - first).max() > 1e-4


def test_learned_space_ties_by_default_and_old_configs_stay_untied():
    assert ModelConfig(model="hiertcn", **TINY).tied_embeddings is True
    assert ModelConfig(model="hiertcn", output_dim=4, **TINY).tied_embeddings is False  # cannot tie
    assert make_config("hiertcn", "pretrained", "hinge").tied_embeddings is False
    # A config recorded before tying existed (no such key) was untied, without dropout or decay.
    old = {k: v for k, v in ModelConfig(model="hiertcn", **TINY).to_dict().items()
           if k not in ("tied_embeddings", "embedding_dropout", "weight_decay")}
    restored = ModelConfig.from_dict(old)
    assert (restored.tied_embeddings, restored.embedding_dropout, restored.weight_decay) == (False, 0.0, 0.0)


def _in_batch(name="tcn", n_negatives=B * T):
    keras.utils.set_random_seed(0)
    # By default M = 16 = every position of the tiny batch: all of its scored targets join.
    config = ModelConfig(model=name, loss="sampled_softmax", negative_distribution="popularity",
                         in_batch_negatives=True, **{**TINY, "n_negatives": n_negatives})
    rec = make_recommender(config)
    batch = make_batch(config)
    predict(rec, batch)  # build
    rec.output_items.bias.assign(np.random.default_rng(3).normal(size=N_CATALOGUE + 1).astype("float32"))
    return rec, batch


def test_in_batch_negatives_are_expected_count_corrected_and_exclude_the_own_target():
    rec, batch = _in_batch()
    state = seed_state_of(rec)
    m = rec.model_config.n_negatives
    sampled = to_numpy(rec.sampler.sample(m))
    u = predict(rec, batch).reshape(-1, DIM)
    kernel, bias = (to_numpy(t) for t in rec.item_table())
    counts = ITEM_COUNTS[: N_CATALOGUE + 1].astype("float64")
    q = counts ** 0.75 / (counts ** 0.75).sum()  # the shared draws' proposal
    p = counts / counts.sum()  # the batch targets' proposal: the unigram
    targets, score = batch["items"].reshape(-1), batch["score"].reshape(-1)
    n_batch = score.sum()
    candidates = np.concatenate([sampled, targets[score]])  # padded positions are no candidates
    with np.errstate(divide="ignore"):
        log_count = np.log(m * q + n_batch * p)
    losses = []
    for n in np.flatnonzero(score):
        t = targets[n]
        z_t = u[n] @ kernel[t] + bias[t] - log_count[t]
        others = candidates[candidates != t]  # accidental hits, the event's own target included
        z_s = u[n] @ kernel[others].T + bias[others] - log_count[others]
        z = np.concatenate([[z_t], z_s])
        losses.append(np.log(np.exp(z - z.max()).sum()) + z.max() - z_t)
    assert len(candidates) > len(sampled) + 1
    assert loss_of(rec, batch, seed_state=state) == pytest.approx(np.mean(losses), rel=1e-5)


def test_in_batch_negatives_are_at_most_m_of_the_scored_targets():
    rec, batch = _in_batch(n_negatives=3)
    weight = batch["score"].reshape(-1).astype("float32")
    targets = np.where(weight > 0, batch["items"].reshape(-1), 0)  # as compute_loss passes them
    assert weight.sum() > 3
    sampled = rec.sampler.sample(3)
    candidates, _, _, valid = (to_numpy(t) for t in rec._with_in_batch(sampled, targets, weight))
    in_batch = candidates[3:]
    assert len(in_batch) == 3 and valid.all()  # three of the scored targets, no padding
    assert set(in_batch) <= set(targets[weight > 0])


def test_in_batch_model_trains_finite_and_round_trips(tmp_path):
    rec, batch = _in_batch("hiertcn")
    assert not batch["score"].all()  # padded positions: their target 0 has log P = −inf
    state = seed_state_of(rec)
    rec.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    rec.reset_states()
    before = loss_of(rec, batch, seed_state=state)
    for _ in range(2):
        rec.train_on_batch(batch)
    assert all(np.isfinite(to_numpy(w)).all() for w in rec.trainable_weights)
    rec.reset_states()
    after = loss_of(rec, batch, seed_state=state)
    assert np.isfinite(after) and after < before
    path = tmp_path / "in_batch.keras"
    rec.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: the target prior is registered
    assert loaded.model_config.in_batch_negatives and loaded.target_prior is not None
    np.testing.assert_array_equal(predict(loaded, batch), predict(rec, batch))
    loaded.reset_states()
    assert loss_of(loaded, batch, seed_state=state) == pytest.approx(after, rel=1e-6)


def test_in_batch_negatives_need_the_sampled_softmax():
    with pytest.raises(ValueError, match="in_batch_negatives needs loss sampled_softmax"):
        ModelConfig(model="tcn", loss="softmax", in_batch_negatives=True, **TINY)
    assert ModelConfig.from_dict({**TINY, "model": "tcn", "loss": "sampled_softmax"}).in_batch_negatives is False


def _top_k_in_batch(rec, keys):
    """The in-batch pick as it was first written (a `top_k` over the keys with M never-valid
    slots appended), for the given keys: the reference of the sort-free `largest_keys`."""
    from keras import ops

    from hiertcn_keras.losses import log_expected_counts

    def with_in_batch(sampled, targets, weight):
        m = rec.model_config.n_negatives
        scored = weight > 0
        _, picked = ops.top_k(ops.concatenate([ops.where(scored, keys, -1), ops.full((m,), -2, "int32")]), m)
        in_batch = ops.take(ops.concatenate([targets, ops.zeros((m,), dtype=targets.dtype)]), picked)
        in_batch_valid = ops.take(ops.concatenate([scored, ops.zeros((m,), dtype="bool")]), picked)
        n_batch = ops.sum(ops.cast(in_batch_valid, "float32"))

        def log_count(ids):
            return log_expected_counts(rec.sampler.log_q(ids), m, rec.target_prior.log_q(ids), n_batch)

        candidates = ops.concatenate([sampled, in_batch])
        valid = ops.concatenate([ops.ones_like(sampled, dtype="bool"), in_batch_valid])
        return candidates, log_count(candidates), log_count(targets), valid

    return with_in_batch


def _packed(batch):
    """The hierarchical batch with each row's sessions laid end to end in its own row (`[B, S·L]`)."""
    keep = batch["mask"].reshape(B, S * L)
    order = np.argsort(~keep, axis=1, kind="stable")  # each row's events first, in slot order
    take = lambda a: np.take_along_axis(a.reshape(B, S * L), order, axis=1)  # noqa: E731
    slot = np.repeat(np.arange(B * S).reshape(B, S), L, axis=1)
    position = np.tile(np.arange(L), S)[None, :].repeat(B, 0)
    return {"items": take(batch["items"]), "inputs": take(batch["inputs"]), "mask": take(batch["mask"]),
            "score": take(batch["score"]), "segment_start": take(position == 0) | ~take(batch["mask"]),
            "slot": np.where(take(batch["mask"]), take(slot), 0).astype("int32"),
            **{key: batch[key] for key in ("session_mask", "user_start", "gap", "user")}}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="gradients through tf.GradientTape")
@pytest.mark.parametrize("layout", ["padded", "packed"])
@pytest.mark.parametrize("n_negatives", [3, B * S * L, 40])
def test_in_batch_pick_without_a_sort_gives_the_top_k_loss_and_gradients(monkeypatch, layout, n_negatives):
    """The same keys give the same candidates, loss and gradients as the `top_k` pick (1e-5):
    fewer slots than scored targets (a random subset, ties among the keys included), more, and
    M = 40 > the batch's 16 positions (16 in-batch slots instead of the reference's 40)."""
    import tensorflow as tf

    rec, batch = _in_batch("hiertcn", n_negatives=n_negatives)
    if layout == "packed":
        rec = build_recommender(rec.model_config.replace(packed_sessions=True), item_counts=ITEM_COUNTS)
        batch = _packed(batch)
        predict(rec, batch)
    score = batch["score"].reshape(-1)
    keys = np.where(score, np.random.default_rng(5).integers(0, 4, score.size), -1).astype("int32")  # ties
    monkeypatch.setattr(rec, "_in_batch_keys", lambda scored: keras.ops.convert_to_tensor(keys))
    state = seed_state_of(rec)

    def loss_and_gradients():
        rec.reset_states()
        rec.sampler.seed_generator.state.assign(state)
        with tf.GradientTape() as tape:
            loss = rec.compute_loss(x=batch, y_pred=rec(batch))
        return float(loss), [to_numpy(g) for g in tape.gradient(loss, rec.trainable_weights)]

    new_loss, new_gradients = loss_and_gradients()
    weight = keras.ops.convert_to_tensor(score.astype("float32"))
    candidates = rec._with_in_batch(rec.sampler.sample(n_negatives), keras.ops.zeros((score.size,), "int32"), weight)[0]
    assert candidates.shape[0] == n_negatives + min(n_negatives, score.size)
    with monkeypatch.context() as patch:
        patch.setattr(rec, "_with_in_batch", _top_k_in_batch(rec, keys))
        old_loss, old_gradients = loss_and_gradients()
    assert score.sum() > 3 and np.isfinite(new_loss)
    assert new_loss == pytest.approx(old_loss, rel=1e-5)
    for new, old in zip(new_gradients, old_gradients):
        np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-6)
