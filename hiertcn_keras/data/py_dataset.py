"""Training batches for Keras `fit` on any backend.

On the TensorFlow backend the queue batcher is wrapped in `tf.data` (`pipeline.make_dataset`,
prefetched on a background thread). On JAX and PyTorch it is fed through
`keras.utils.PyDataset`, so training needs no TensorFlow at all: each epoch's queue plan is
drawn once, its batch count is the `PyDataset` length (the progress bar has a total), and
`__getitem__` gathers one planned batch from the NumPy table. Both feed the same batches in the
same order.
"""

from __future__ import annotations

import keras
import numpy as np


class QueueBatches(keras.utils.PyDataset):
    """A `QueueBatcher`'s epochs as a `keras.utils.PyDataset` (NumPy, no TensorFlow).

    Batches are gathered in the calling thread, in plan order (`fit` must get `shuffle=False`:
    each row's state is carried from batch to batch). JAX dispatches a step asynchronously, so
    gathering batch k + 1 overlaps the device's work on batch k.

    Args:
        batcher: `hiertcn_keras.data.batcher.QueueBatcher`.
        first_epoch: int. Epoch number of the first pass (a resumed run continues the sequence
            of shuffles). Defaults to 0.

    Example:

    >>> model.fit(QueueBatches(batcher), epochs=3, shuffle=False)  # doctest: +SKIP
    """

    def __init__(self, batcher, *, first_epoch=0):
        super().__init__(workers=1, use_multiprocessing=False)
        self.batcher = batcher
        self.epoch = int(first_epoch)
        self._plan = batcher.plan(self.epoch)

    @property
    def num_batches(self):
        """Batches of the current epoch (its queue plan's length)."""
        return len(self._plan)

    def __len__(self):
        return len(self._plan)

    def __getitem__(self, index):
        """Batch `index` of the current epoch: dict name → NumPy array (see the table's `gather`)."""
        if not 0 <= index < len(self._plan):
            raise IndexError(f"batch {index} out of range: this epoch has {len(self._plan)} batches")
        return self.batcher.table.gather(self._plan[index])

    def on_epoch_end(self):
        """Draw the next epoch's queue plan (a fresh seeded user order when shuffling)."""
        self.epoch += 1
        self._plan = self.batcher.plan(self.epoch)


def training_batches(batcher, *, first_epoch=0):
    """What `fit` reads on the current backend: `tf.data` on TensorFlow, else `QueueBatches`.

    Args:
        batcher: `QueueBatcher`.
        first_epoch: int. Epoch number of the first pass. Defaults to 0.

    Returns:
        `tf.data.Dataset` (TensorFlow backend) or `QueueBatches`.
    """
    if keras.backend.backend() == "tensorflow":
        from hiertcn_keras.data.pipeline import make_dataset

        return make_dataset(batcher, first_epoch=first_epoch)
    return QueueBatches(batcher, first_epoch=first_epoch)


def batch_nbytes(batch):
    """Bytes held by one batch (dict of arrays or tensors)."""
    return int(sum(np.asarray(v).nbytes for v in batch.values()))
