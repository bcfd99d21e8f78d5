"""tf.data pipelines over the queue batcher: fixed-shape batches, prefetched.

Used on the TensorFlow backend only (`py_dataset.training_batches` picks it; JAX and PyTorch
read the same batches through `keras.utils.PyDataset`); model code uses `keras.ops` only. Every batch has the same static shape, so XLA compiles the training step
once. Each pass over the dataset (each Keras epoch) draws a fresh seeded user order when the
batcher shuffles.
"""

from __future__ import annotations

import itertools

import numpy as np
import tensorflow as tf


def make_dataset(batcher, *, prefetch=2, first_epoch=0):
    """Wrap a `QueueBatcher` in a `tf.data.Dataset` of dicts of fixed-shape tensors.

    Args:
        batcher: `hiertcn_keras.data.batcher.QueueBatcher`.
        prefetch: int. Batches prepared ahead on a background thread. Defaults to 2.
        first_epoch: int. Epoch number of the first pass (a resumed run continues the
            sequence of shuffles). Defaults to 0.

    Returns:
        `tf.data.Dataset`; iterating it again starts the next epoch.
    """
    spec = batcher.element_spec()
    signature = {
        key: tf.TensorSpec(shape=shape, dtype=tf.as_dtype(np.dtype(dtype)))
        for key, (shape, dtype) in spec.items()
    }
    epochs = itertools.count(first_epoch)

    def generator():
        yield from batcher.batches(next(epochs))

    dataset = tf.data.Dataset.from_generator(generator, output_signature=signature)
    return dataset.prefetch(prefetch)

