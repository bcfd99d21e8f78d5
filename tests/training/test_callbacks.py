import keras
import numpy as np
import tensorflow as tf

from hiertcn_keras.training.callbacks import ExactOptimizerSteps


def test_optimizer_steps_equal_the_batches_trained():
    # A generator of unknown length: `fit` ends each epoch with a call that finds no data, whose
    # step-count increment may run without XLA. With the callback, 2 epochs × 5 batches = 10.
    x = np.arange(10, dtype="float32").reshape(10, 1)

    def batches():
        for i in range(5):
            yield x[2 * i:2 * i + 2], np.zeros((2, 1), "float32")

    data = tf.data.Dataset.from_generator(batches, output_signature=(tf.TensorSpec((2, 1)), tf.TensorSpec((2, 1))))
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=False)
    model.fit(data, epochs=2, verbose=0, callbacks=[ExactOptimizerSteps()])
    assert int(model.optimizer.iterations.numpy()) == 10
