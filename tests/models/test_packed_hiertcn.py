"""HierTCN on packed rows computes exactly what it computes on padded slots (scores, loss, a step).

The same queue plan is fed once as `[B, S, L]` slots (`SessionTable`) and once packed
(`PackedSessionTable`): users straddle batches (the high-level state is carried and reset at
user starts), sessions are of 1-6 events (L = 6), the decay and the last-item residual are on.
"""

import keras
import numpy as np
import pytest

from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.data.session_packing import PackedSessionTable
from hiertcn_keras.data.tensors import SessionTable
from hiertcn_keras.models import ModelConfig, build_recommender
from hiertcn_keras.models.hiertcn import HierarchicalSteps

B, S, L = 3, 3, 6


def _view(seed=0):
    rng = np.random.default_rng(seed)
    user, session, item, time = [], [], [], []
    clock = 0.0
    for u in range(9):
        for s in range(int(rng.integers(1, 7))):
            clock += float(rng.integers(600, 7200))
            for _ in range(min(int(rng.geometric(0.4)), L)):
                user.append(u), session.append(s), item.append(int(rng.integers(1, 25))), time.append(clock)
                clock += 30.0
    return EventView.from_arrays(user, item, session, timestamp=time,
                                 score=rng.random(len(item)) > 0.15)


def _config(**changes):
    values = dict(model="hiertcn", n_items=26, n_catalogue=24, loss="softmax", embedding_dim=6, high_units=(5, 4),
                  tcn_channels=(6, 6), kernel_size=2, batch_size=B, sessions_per_batch=S, max_session_len=L,
                  decay_bandwidth=3600.0, last_item_residual=True, dropout=0.0, embedding_dropout=0.0)
    return ModelConfig(**{**values, **changes})


def _plans(view):
    sessions = SessionTable.from_view(view, L)
    padded = QueueBatcher(sessions, B, S, shuffle=True, seed=2)
    packed = QueueBatcher(PackedSessionTable(sessions, S), B, S, shuffle=True, seed=2)
    return padded, packed


def _run(rec, batcher):
    """u of every event (sorted by view index) and each batch's loss (state carried, reset first)."""
    rec.reset_states()
    events, scores, losses = [], [], []
    for index in batcher.plan(0):
        batch = batcher.table.gather(index)
        u = rec(batch)
        events.append(batcher.table.events_of(index)[batch["mask"]])
        scores.append(keras.ops.convert_to_numpy(u)[batch["mask"]])
        losses.append(float(rec.compute_loss(batch, None, u)))
    order = np.argsort(np.concatenate(events))
    return np.concatenate(scores)[order], np.array(losses)


def test_packed_scores_and_loss_equal_the_padded_layout():
    keras.utils.set_random_seed(0)
    rec = build_recommender(_config())
    padded, packed = _plans(_view())
    assert len(padded.plan(0)) >= 3  # users straddle batches
    u_padded, loss_padded = _run(rec, padded)
    u_packed, loss_packed = _run(rec, packed)
    assert u_packed.shape == u_padded.shape
    moved = [np.any((b["slot"] // S != np.arange(B)[:, None]) & b["mask"]) for b in packed.batches(0)]
    assert any(moved)  # sessions packed into other queues' rows are scored right too
    np.testing.assert_allclose(u_packed, u_padded, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loss_packed, loss_padded, rtol=1e-5, atol=1e-5)


def test_a_training_step_on_packed_rows_equals_one_on_padded_slots():
    padded, packed = _plans(_view(1))
    trained = []
    for batcher in (padded, packed):
        keras.utils.set_random_seed(0)
        rec = build_recommender(_config())
        rec(next(iter(batcher.batches(0))))
        initial = [np.asarray(w) for w in rec.user_model.trainable_weights]
        rec.compile(optimizer=keras.optimizers.Adam(0.01), jit_compile=False)
        rec.train_on_batch(next(iter(batcher.batches(0))))
        trained.append([np.asarray(w) for w in rec.user_model.trainable_weights])
        assert all(np.abs(a - b).max() > 1e-4 for a, b in zip(initial, trained[-1]))  # every weight learned
    for a, b in zip(*trained):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_online_steps_give_the_packed_scores():
    keras.utils.set_random_seed(0)
    rec = build_recommender(_config())
    _, packed = _plans(_view(2))
    batch = next(iter(packed.batches(0)))
    rec.reset_states()
    u = keras.ops.convert_to_numpy(rec(batch))
    steps = HierarchicalSteps(rec.user_model, "hiertcn")
    row = 0  # queue row 0's first user: its sessions (wherever they were packed) folded online one by one
    context = np.zeros((1, steps.state_size), "float32")
    checked = 0
    for s in range(S):
        if not batch["session_mask"][row, s] or (s and batch["user_start"][row, s]):
            break
        cells = np.nonzero(batch["mask"] & (batch["slot"] == row * S + s))
        if s:
            context = context * np.exp(-batch["gap"][row, s] / 3600.0)
        online = keras.ops.convert_to_numpy(steps.low_level(batch["inputs"][cells][None], context))
        np.testing.assert_allclose(online[0], u[cells], rtol=1e-5, atol=1e-5)
        items = np.zeros((1, L), "int32")
        items[0, : len(cells[0])] = batch["items"][cells]
        context = keras.ops.convert_to_numpy(steps.fold(context, items, np.ones((1, 1), "float32")))
        checked += 1
    assert checked >= 2  # at least two sessions of one user


def test_keras_file_holds_the_user_model_only_and_reloads_the_packed_graph(tmp_path):
    keras.utils.set_random_seed(0)
    rec = build_recommender(_config())
    _, packed = _plans(_view())
    batch = next(iter(packed.batches(0)))
    rec.reset_states()
    before = keras.ops.convert_to_numpy(rec(batch))
    padded_twin = build_recommender(_config(packed_sessions=False))
    padded_twin(next(iter(_plans(_view())[0].batches(0))))
    assert len(rec.weights) == len(padded_twin.weights)  # the packed graph adds no weight
    rec.save(tmp_path / "packed.keras")
    loaded = keras.models.load_model(tmp_path / "packed.keras")
    assert loaded.model_config.packed_sessions
    loaded.reset_states()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(batch)), before, rtol=1e-6, atol=1e-6)


def test_the_setting_defaults_to_hiertcn_and_old_configs_stay_padded():
    assert _config().packed_sessions
    assert not _config(model="hiergru").packed_sessions
    assert not ModelConfig(model="hrnn", n_items=5, n_catalogue=4).packed_sessions
    with pytest.raises(ValueError, match="packed_sessions needs model hiertcn, got 'hiergru'"):
        _config(model="hiergru", packed_sessions=True)
    recorded = {k: v for k, v in _config().to_dict().items() if k != "packed_sessions"}
    assert not ModelConfig.from_dict(recorded).packed_sessions
    rec = build_recommender(_config(packed_sessions=False))
    _, packed = _plans(_view())
    with pytest.raises(ValueError, match="a packed batch needs a HierTCN with packed_sessions"):
        rec(next(iter(packed.batches(0))))
