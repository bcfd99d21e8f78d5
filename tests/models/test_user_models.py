"""The six functional user models: shapes, causality, the high level's view, state resets.

Tiny sizes: B = 2 rows, S = 3 session slots, L = 4 steps, T = 12 flat steps, every width 8,
catalogue of 10 items (ids 1..10, 0 = padding / start token x̂).

Inputs are shifted (docs/concepts.md#inputs-and-targets): within a session, `inputs = [x̂, a1 …
a(n-1)]` and the output at step t predicts `items[t]` from inputs ≤ t, i.e. from items < t. So
changing items[t:] of a session may change its outputs from step t + 1 on, never at steps ≤ t. Every
property below is checked by running the same model on two batches that differ where the property
says nothing may leak from, and asserting bitwise-equal outputs (same shapes, same arithmetic), plus
the converse (something did change) so that a model that ignores its inputs cannot pass.
"""

import keras
import numpy as np
import pytest

from hiertcn_keras.layers import TCN
from hiertcn_keras.models.config import HIERARCHICAL_MODELS, NEURAL_MODELS, ModelConfig
from hiertcn_keras.models.recommender import build_recommender

B, S, L, T, DIM, N_ITEMS = 2, 3, 4, 12, 8, 11

TINY = dict(
    n_items=N_ITEMS, n_catalogue=N_ITEMS - 1, embedding_dim=DIM, high_units=(DIM, DIM),
    tcn_channels=(DIM, DIM), kernel_size=2, low_gru_units=(DIM,), hrnn_units=DIM,
    flat_tcn_channels=(DIM, DIM, DIM), flat_gru_units=(DIM, DIM), batch_size=B,
    sessions_per_batch=S, max_session_len=L, flat_len=T, gru_chunk_len=T,
)


def hier_batch(items, user_start=None):
    """A hierarchical batch from target items `[B, S, L]` (0 = padding at the end)."""
    items = np.asarray(items, dtype="int32")
    mask = items > 0
    inputs = np.zeros_like(items)
    inputs[..., 1:] = items[..., :-1]  # [x̂ = 0, a1 … a(n-1)]
    inputs[~mask] = 0
    if user_start is None:
        user_start = np.zeros(items.shape[:2], bool)
        user_start[:, 0] = True
    return {
        "items": items, "inputs": inputs, "mask": mask, "score": mask.copy(),
        "session_mask": mask[..., 0].copy(), "user_start": np.asarray(user_start, bool),
        "gap": np.zeros(items.shape[:2], "float32"),
    }


def flat_batch(items, user_start=True):
    """A flat batch from a history chunk `[B, T]`: inputs are the previous item (0 first).

    One segment per row (`segment_start` at step 0 of a user's first chunk), for the packed
    models (flat TCN, GRU4Rec) too.
    """
    items = np.asarray(items, dtype="int32")
    inputs = np.zeros_like(items)
    inputs[:, 1:] = items[:, :-1]
    if user_start is False:  # a continued chunk: its first input is the previous chunk's last item
        inputs[:, 0] = 1
    inputs[items == 0] = 0  # padding, as FlatTable has it
    segment_start = np.zeros(items.shape, bool)
    segment_start[:, 0] = bool(user_start)
    return {
        "items": items, "inputs": inputs, "mask": items > 0, "score": items > 0,
        "user_start": np.full(len(items), bool(user_start)), "segment_start": segment_start,
    }


def random_items(config, seed):
    rng = np.random.default_rng(seed)
    if config.hierarchical:
        items = rng.integers(1, N_ITEMS, size=(B, S, L))
        items[1, 1, 2:] = 0  # a short session (padding at its end)
        return items
    items = rng.integers(1, N_ITEMS, size=(B, T))
    items[1, 9:] = 0  # a user's last, shorter chunk
    return items


def batch_for(config, items, user_start=None):
    if config.hierarchical:
        return hier_batch(items, user_start)
    return flat_batch(items, True if user_start is None else user_start)


@pytest.fixture(scope="module")
def recommenders():
    keras.utils.set_random_seed(0)
    counts = np.ones(N_ITEMS, np.int64)  # GRU4Rec draws popularity negatives
    return {name: build_recommender(ModelConfig(model=name, **TINY), item_counts=counts) for name in NEURAL_MODELS}


def run(rec, batch):
    """u for a batch from a fresh (reset) state, eagerly."""
    rec.reset_states()
    return keras.ops.convert_to_numpy(rec(batch))


@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_builds_with_output_shape(recommenders, name):
    rec = recommenders[name]
    config = rec.model_config
    u = run(rec, batch_for(config, random_items(config, 0)))
    assert rec.user_model.name == name
    assert u.shape == ((B, S, L, DIM) if config.hierarchical else (B, T, DIM))
    assert np.isfinite(u).all()
    # Step 0 of a user's first session reads only x̂ (and a zero high-level state), so it is the
    # same vector in every row although the rows' items differ.
    first = u[:, 0, 0] if config.hierarchical else u[:, 0]
    np.testing.assert_allclose(first[0], first[1], rtol=1e-6, atol=1e-7)


CAUSAL_CASES = {
    True: [(0, 0), (0, 2), (1, 0), (1, 1), (2, 3)],  # (session, step) of the first change
    False: [(0, 0), (0, 5), (0, 11)],
}


@pytest.mark.parametrize("name, session, step", [
    (name, session, step)
    for name in NEURAL_MODELS
    for session, step in CAUSAL_CASES[name in HIERARCHICAL_MODELS]
])
def test_causal(recommenders, name, session, step):
    rec = recommenders[name]
    config = rec.model_config
    items = random_items(config, 1)
    base = run(rec, batch_for(config, items))
    changed = items.copy()
    if config.hierarchical:
        changed[0, session, step:] = changed[0, session, step:] % (N_ITEMS - 1) + 1  # other ids
        out = run(rec, batch_for(config, changed))
        # Steps ≤ step of that session: read only items < step, and a high-level state that
        # is computed before the session (so the session never sees its own items through it).
        np.testing.assert_array_equal(out[0, session, : step + 1], base[0, session, : step + 1])
        np.testing.assert_array_equal(out[0, :session], base[0, :session])  # earlier sessions
        np.testing.assert_array_equal(out[1], base[1])  # the other row
        if step + 1 < L:  # the next step reads the changed item
            assert np.abs(out[0, session, step + 1] - base[0, session, step + 1]).max() > 1e-5
        if session + 1 < S:  # and the next session sees it through the high level
            assert np.abs(out[0, session + 1, 0] - base[0, session + 1, 0]).max() > 1e-6
    else:
        changed[0, step:] = changed[0, step:] % (N_ITEMS - 1) + 1
        out = run(rec, batch_for(config, changed))
        np.testing.assert_array_equal(out[0, : step + 1], base[0, : step + 1])
        np.testing.assert_array_equal(out[1], base[1])
        if step + 1 < T:
            assert np.abs(out[0, step + 1] - base[0, step + 1]).max() > 1e-5


def _context_model(rec):
    """The high-level context of every session `[B, S, H]` (HighLevelGRU's first output)."""
    user_model = rec.user_model
    return keras.Model(user_model.inputs, user_model.get_layer("high_level_gru").output[0])


@pytest.mark.parametrize("name", ["hiertcn", "hiergru"])
@pytest.mark.parametrize("session", [0, 1, 2])
def test_high_level_context_only_sees_earlier_sessions(recommenders, name, session):
    rec = recommenders[name]
    context = _context_model(rec)
    items = random_items(rec.model_config, 2)
    changed = items.copy()
    changed[0, session] = changed[0, session] % (N_ITEMS - 1) + 1  # every item of session i
    rec.reset_states()
    base = keras.ops.convert_to_numpy(context(hier_batch(items)))
    out = keras.ops.convert_to_numpy(context(hier_batch(changed)))
    assert base.shape == (B, S, 2 * DIM)
    # context[i] = the state BEFORE session i: it depends on sessions < i only.
    np.testing.assert_array_equal(out[0, : session + 1], base[0, : session + 1])
    np.testing.assert_array_equal(base[:, 0], np.zeros((B, 2 * DIM)))  # ŝ = 0 at a user start
    if session + 1 < S:
        assert np.abs(out[0, session + 1] - base[0, session + 1]).max() > 1e-5


@pytest.mark.parametrize("name", HIERARCHICAL_MODELS)
@pytest.mark.parametrize("k", [1, 2])
def test_user_start_inside_a_batch_cuts_the_history(recommenders, name, k):
    rec = recommenders[name]
    items = random_items(rec.model_config, 3)
    changed = items.copy()
    changed[0, :k] = changed[0, :k] % (N_ITEMS - 1) + 1  # everything before slot k of row 0
    starts = np.zeros((B, S), bool)
    starts[:, 0] = True
    starts[0, k] = True  # a new user begins at slot k of row 0
    base = run(rec, hier_batch(items, starts))
    out = run(rec, hier_batch(changed, starts))
    np.testing.assert_array_equal(out[0, k:], base[0, k:])  # nothing crosses the user boundary
    # The other direction: without the start at k, slot k does depend on the earlier slots (a
    # state never carried between sessions would make these equal).
    starts[0, k] = False
    carried_base = run(rec, hier_batch(items, starts))
    carried = run(rec, hier_batch(changed, starts))
    assert np.abs(carried[0, k, 0] - carried_base[0, k, 0]).max() > 1e-6


@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_state_across_predict_on_batch_calls(recommenders, name):
    """Queue rows continue from batch to batch: the state is carried unless a user starts."""
    rec = recommenders[name]
    config = rec.model_config
    first, other_first = (batch_for(config, random_items(config, seed)) for seed in (4, 5))
    second_items = random_items(config, 6)
    if config.hierarchical:
        no_start = np.zeros((B, S), bool)
        restart = no_start.copy()
        restart[:, 0] = True
        continued, restarted = hier_batch(second_items, no_start), hier_batch(second_items, restart)
    else:
        continued, restarted = flat_batch(second_items, False), flat_batch(second_items, True)

    def second_after(previous, second):
        rec.reset_states()
        if previous is not None:
            rec.predict_on_batch(previous)
        return np.asarray(rec.predict_on_batch(second))

    after_first = second_after(first, continued)
    after_other = second_after(other_first, continued)
    after_nothing = second_after(None, continued)
    if name == "tcn":
        # The flat TCN has no carried state: a chunk sees only itself (its receptive field,
        # ≥ 250 with the default config, lies within the chunk of T = 500 events).
        np.testing.assert_array_equal(after_first, after_other)
    else:
        # Carried: the second batch's very first step depends on the first batch.
        first_step = (lambda u: u[:, 0, 0]) if config.hierarchical else (lambda u: u[:, 0])
        for other in (after_other, after_nothing):  # in every row
            assert np.abs(first_step(after_first) - first_step(other)).max(axis=-1).min() > 1e-6
    # A user start at slot 0 of the second call drops the carried state exactly there (not one
    # step late): every output equals the fresh run, bitwise.
    fresh = second_after(None, restarted)
    np.testing.assert_array_equal(second_after(first, restarted), fresh)
    np.testing.assert_array_equal(second_after(other_first, restarted), fresh)


@pytest.mark.parametrize("name", NEURAL_MODELS)
def test_start_token_and_padding_embed_to_exact_zeros(recommenders, name):
    rec = recommenders[name]
    config = rec.model_config
    batch = batch_for(config, random_items(config, 7))
    embedded = keras.ops.convert_to_numpy(rec.user_model.get_layer("item_embedding")(batch["inputs"]))
    zero = batch["inputs"] == 0
    assert zero[..., 0].all() and zero.sum() > zero[..., 0].sum()  # x̂ at step 0, and padding
    assert np.array_equal(embedded[zero], np.zeros_like(embedded[zero]))  # +0.0 exactly
    assert (np.abs(embedded[~zero]).max(axis=-1) > 0).all()


def test_pretrained_row_zero_is_zero_whatever_the_matrix_holds():
    keras.utils.set_random_seed(0)
    matrix = np.random.default_rng(0).normal(size=(N_ITEMS, 6)).astype("float32")
    matrix[0] = 5.0  # a non-zero row 0 must never reach the model
    config = ModelConfig(model="hiertcn", item_space="pretrained", **TINY)
    rec = build_recommender(config, item_matrix=matrix)
    assert rec.model_config.output_dim == 6  # the pretrained space forces the vectors' size
    batch = hier_batch(random_items(config, 8))
    embed = rec.user_model.get_layer("item_embedding")
    embedded = keras.ops.convert_to_numpy(embed(batch["inputs"]))
    zero = batch["inputs"] == 0
    assert np.array_equal(embedded[zero], np.zeros_like(embedded[zero]))
    np.testing.assert_array_equal(embedded[~zero], matrix[batch["inputs"][~zero]])
    assert not embed.trainable_weights  # frozen
    table, bias = rec.item_table()
    table = keras.ops.convert_to_numpy(table)
    assert bias is None and table.shape == (N_ITEMS, 6)  # catalogue 1..10 plus row 0
    np.testing.assert_array_equal(table[0], np.zeros(6))
    np.testing.assert_array_equal(table[1:], matrix[1:])


def test_flat_tcn_default_receptive_field_covers_250_events():
    config = ModelConfig(model="tcn", n_items=N_ITEMS, n_catalogue=N_ITEMS - 1)
    tcn = TCN(config.flat_tcn_channels, kernel_size=config.kernel_size, variant=config.tcn_variant)
    # 6 blocks, k = 5, dilations 1 … 32, one conv per block: 1 + 4·(1 + 2 + … + 32) = 253.
    assert tcn.receptive_field == 253 >= 250
    # The session TCN of the official config: 1 + 4·(1 + 2) = 13 steps.
    assert TCN(config.tcn_channels, kernel_size=config.kernel_size).receptive_field == 13


def test_flat_tcn_default_model_sees_exactly_253_steps_back():
    keras.utils.set_random_seed(0)
    config = ModelConfig(model="tcn", n_items=N_ITEMS, n_catalogue=N_ITEMS - 1, batch_size=1, flat_len=256)
    rec = build_recommender(config)
    items = np.random.default_rng(9).integers(1, N_ITEMS, size=(1, 256))
    base = run(rec, flat_batch(items))
    changed = items.copy()
    changed[0, 0] = changed[0, 0] % (N_ITEMS - 1) + 1  # items[0] is the input of step 1
    out = run(rec, flat_batch(changed))
    np.testing.assert_array_equal(out[0, :1], base[0, :1])
    # Input step 1 reaches output steps 1 … 1 + 252 = 253 and no further.
    assert np.abs(out[0, 253] - base[0, 253]).max() > 0
    np.testing.assert_array_equal(out[0, 254:], base[0, 254:])


def _scores_by_event(rec, batcher):
    """u of every scored event, keyed by the event's target item (distinct ids)."""
    rec.reset_states()
    found = {}
    for batch in batcher.batches():
        u = np.asarray(rec.predict_on_batch(batch))
        for item, vector in zip(batch["items"][batch["score"]], u[batch["score"]]):
            found[int(item)] = vector
    return found


def test_packed_flat_tcn_scores_every_event_as_one_user_per_row():
    """Same weights, packed rows vs one user's chunk per row: every event's u agrees to 1e-5,
    at the user boundaries inside a packed row too (a receptive field that crossed one would
    mix two users and break this)."""
    from hiertcn_keras.data.dataset import EventView
    from hiertcn_keras.training.evaluate import batcher_for

    lengths = [3, 7, 1, 12, 5, 30, 2, 9, 4, 6]  # user 6 has 30 events: three chunks of T = 12
    n = sum(lengths)
    view = EventView(np.repeat(np.arange(1, 11), lengths).astype(np.int32), np.arange(1, n + 1, dtype=np.int32),
                     np.arange(n, dtype=float), np.repeat(np.arange(10), lengths).astype(np.int32),
                     np.zeros(n, np.int16), np.ones(n, bool), "train")
    tiny = {**TINY, "n_items": n + 1, "n_catalogue": n, "kernel_size": 3}
    keras.utils.set_random_seed(0)
    packed = build_recommender(ModelConfig(model="tcn", **tiny))
    unpacked = build_recommender(ModelConfig(model="tcn", flat_packed=False, **tiny))
    assert "segment_start" in packed.input_keys and "segment_start" not in unpacked.input_keys
    batcher = batcher_for(packed.model_config, view)
    batch = next(iter(batcher.batches()))
    packed(batch)
    unpacked(next(iter(batcher_for(unpacked.model_config, view).batches())))
    rng = np.random.default_rng(0)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in packed.get_weights()]
    packed.set_weights(weights)
    unpacked.set_weights(weights)
    # Users share rows (the test means something): 10 users, 2 rows per batch.
    per_row = [(b["segment_start"] & b["mask"]).sum(axis=1).max() for b in batcher.batches()]
    assert max(per_row) >= 2  # user boundaries inside rows
    mine = _scores_by_event(packed, batcher)
    theirs = _scores_by_event(unpacked, batcher_for(unpacked.model_config, view))
    assert sorted(mine) == sorted(theirs) == list(range(1, n + 1))
    for item in mine:
        np.testing.assert_allclose(mine[item], theirs[item], rtol=1e-5, atol=1e-5)
    # Row fill: packed rows carry far fewer padding steps than one chunk per row.
    slots = {name: batcher_for(rec.model_config, view).n_batches() for name, rec in
             (("packed", packed), ("unpacked", unpacked))}
    assert slots["packed"] < slots["unpacked"]


@pytest.mark.slow  # ~20 s on 2 shared cores (the traced training steps of a recurrent model)
def test_gru4rec_learns_a_deterministic_successor_log():
    """Sessions follow item i → i + 1 (mod 30) from a random first item: after a few epochs of
    session-parallel training GRU4Rec ranks the successor in its top 10 almost always, where
    popularity gets about a third (every item is about equally frequent)."""
    from hiertcn_keras.data.dataset import EventView
    from hiertcn_keras.metrics import inner_product_ranks
    from hiertcn_keras.training.evaluate import batcher_for

    rng = np.random.default_rng(0)
    n_items, n_sessions, length = 30, 240, 6
    first = rng.integers(0, n_items, size=n_sessions)
    items = ((first[:, None] + np.arange(length)) % n_items + 1).ravel().astype(np.int32)
    n = len(items)
    session = np.repeat(np.arange(n_sessions), length).astype(np.int32)
    view = EventView(session // 4 + 1, items, np.arange(n, dtype=float), session, np.zeros(n, np.int16),
                     np.ones(n, bool), "train")
    keras.utils.set_random_seed(0)
    config = ModelConfig(model="gru4rec", n_items=n_items + 1, n_catalogue=n_items, embedding_dim=16,
                         gru4rec_units=(32,), batch_size=32, gru_chunk_len=8, n_negatives=64, dropout=0.0,
                         embedding_dropout=0.0, learning_rate=2e-2)
    assert (config.loss, config.negative_distribution, config.tied_embeddings) == ("sampled_softmax", "popularity",
                                                                                   True)
    rec = build_recommender(config, item_counts=np.bincount(items, minlength=n_items + 1))
    rec.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=False)
    train = batcher_for(config, view, shuffle=True)
    for epoch in range(5):
        rec.reset_states()
        for batch in train.batches(epoch):
            rec.train_on_batch(batch)
    rec.reset_states()
    table, bias = (keras.ops.convert_to_numpy(t) for t in rec.item_table())
    ranks = []
    for batch in batcher_for(config, view).batches():
        u = np.asarray(rec.predict_on_batch(batch))
        later = batch["mask"] & ~batch["segment_start"]  # a session's first item has no predecessor
        ranks.append(inner_product_ranks(u[later], table, batch["items"][later], item_bias=bias,
                                         candidates=np.arange(n_items + 1) > 0))
    recall = float((np.concatenate(ranks) <= 10).mean())
    assert recall > 0.9 > 10 / n_items + 0.3
