import keras
import numpy as np
import pytest

from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.data.py_dataset import QueueBatches, batch_nbytes, training_batches
from hiertcn_keras.data.tensors import SessionTable


def make_batcher():
    # 30 users × 2 sessions of 1 event, with varying lengths so the plans differ per epoch.
    n = 60
    view = EventView(np.repeat(np.arange(1, 31), 2).astype(np.int32), np.arange(1, n + 1, dtype=np.int32),
                     np.arange(n, dtype=float), np.arange(n, dtype=np.int32) // 2, np.zeros(n, np.int16),
                     np.ones(n, bool), "train")
    return QueueBatcher(SessionTable.from_view(view, 3), 4, 2, shuffle=True, seed=1)


def assert_epoch_equals(batches, batcher, epoch):
    expected = list(batcher.batches(epoch))
    assert len(batches) == batches.num_batches == len(expected)
    for k, batch in enumerate(expected):
        got = batches[k]
        assert got.keys() == batch.keys()
        for key in batch:
            np.testing.assert_array_equal(got[key], batch[key])


def test_queue_batches_are_the_batchers_epochs_in_order():
    batcher = make_batcher()
    batches = QueueBatches(batcher)
    assert_epoch_equals(batches, batcher, 0)
    batches.on_epoch_end()  # Keras calls this after each epoch: the next seeded shuffle
    assert_epoch_equals(batches, batcher, 1)
    assert sum(int(batches[k]["score"].sum()) for k in range(len(batches))) == 60  # every event, once
    with pytest.raises(IndexError):
        batches[len(batches)]


def test_a_resumed_run_starts_at_its_epoch():
    batcher = make_batcher()
    assert_epoch_equals(QueueBatches(batcher, first_epoch=3), batcher, 3)


def test_training_batches_follow_the_backend():
    batches = training_batches(make_batcher())
    if keras.backend.backend() == "tensorflow":
        assert not isinstance(batches, QueueBatches)  # tf.data
    else:
        assert isinstance(batches, QueueBatches)


def test_batch_nbytes_counts_every_array():
    assert batch_nbytes({"a": np.zeros((2, 3), np.int32), "b": np.zeros(4, bool)}) == 24 + 4
