import numpy as np

from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.data.pipeline import make_dataset
from hiertcn_keras.data.py_dataset import batch_nbytes
from hiertcn_keras.data.tensors import SessionTable


def test_dataset_has_fixed_shapes_and_reshuffles_each_epoch():
    n = 60
    view = EventView(np.repeat(np.arange(1, 31), 2).astype(np.int32), np.arange(1, n + 1, dtype=np.int32),
                     np.arange(n, dtype=float), np.arange(n, dtype=np.int32) // 2, np.zeros(n, np.int16),
                     np.ones(n, bool), "train")
    table = SessionTable.from_view(view, 3)
    batcher = QueueBatcher(table, 4, 2, shuffle=True, seed=1)
    ds = make_dataset(batcher)
    spec = ds.element_spec
    assert tuple(spec["items"].shape) == (4, 2, 3) and tuple(spec["user_start"].shape) == (4, 2)
    first = [b["items"].numpy() for b in ds]
    second = [b["items"].numpy() for b in ds]
    assert sum(int((b > 0).sum()) for b in first) == n
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))
    # Epoch 0 of the dataset equals the batcher's own epoch 0.
    assert np.array_equal(first[0], next(batcher.batches(0))["items"])
    assert batch_nbytes(next(batcher.batches(0))) == 4 * 2 * 3 * (4 + 4 + 1 + 1) + 4 * 2 * (1 + 1 + 4 + 4)
