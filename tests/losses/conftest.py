"""Shared random inputs and a backend-agnostic gradient for the loss tests.

The NumPy references live beside each test, so every loss is checked against its own formula.
"""

import keras
import numpy as np
import pytest


@pytest.fixture
def pairwise_inputs():
    """Random u [N, D], y [N, D], per-event negatives [N, K, D], shared [K, D], mask [N].

    Events 1 and 4 are padding (mask 0); event 2 has weight 0.5.
    """

    def make(n=6, d=5, k=4, seed=0):
        rng = np.random.default_rng(seed)
        u = rng.normal(size=(n, d)).astype("float32")
        y = rng.normal(size=(n, d)).astype("float32")
        neg = rng.normal(size=(n, k, d)).astype("float32")
        shared = rng.normal(size=(k, d)).astype("float32")
        mask = np.ones(n, dtype="float32")
        mask[[1, 4]] = 0.0
        mask[2] = 0.5
        return u, y, neg, shared, mask

    return make


@pytest.fixture
def grad():
    """grad(fn, x) -> (value, d fn / d x) as NumPy, on whichever backend Keras runs."""

    def compute(fn, x):
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            x = tf.Variable(x)
            with tf.GradientTape() as tape:
                value = fn(x)
            return np.asarray(value), np.asarray(tape.gradient(value, x))
        if backend == "jax":
            import jax

            value, g = jax.value_and_grad(fn)(x)
            return np.asarray(value), np.asarray(g)
        if backend == "torch":
            import torch

            x = torch.tensor(x, requires_grad=True)
            value = fn(x)
            value.backward()
            return value.detach().cpu().numpy(), x.grad.cpu().numpy()
        pytest.skip(f"no gradient helper for backend {backend}")

    return compute

