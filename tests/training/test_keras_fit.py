"""`keras_fit`: a hand-written `model.fit` loop trains exactly the model `train` trains.

On the tiny dataset of `conftest.py`, a width-8 HierTCN trained 2 epochs by `train` and by the
keras.io-style loop of the module docstring (same seed) must end with the same weights and the
same per-epoch history (loss and validation metrics).
"""

import keras
import numpy as np

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training.keras_fit import fit_callbacks, training_data
from hiertcn_keras.training.optimizers import make_optimizer
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import model_config_for, train

TINY = dict(embedding_dim=8, high_units=(8,), tcn_channels=(8,), kernel_size=2, batch_size=2, sessions_per_batch=2,
            learning_rate=1e-2)


def test_inline_fit_equals_train(tiny_data_dir, tmp_path):
    dataset = PreparedDataset(tiny_data_dir)
    config = model_config_for(dataset, model="hiertcn", **TINY)
    train_config = TrainConfig(epochs=2, jit_compile=False, verbose=0, patience=5)
    reference, reference_history, _ = train(tiny_data_dir, config, train_config, tmp_path / "run",
                                            evaluate_test=False)

    keras.utils.set_random_seed(train_config.seed)
    model = build_recommender(config, item_counts=dataset.item_counts("train"))
    data, sample = training_data(dataset, model.model_config, seed=train_config.seed)
    model(sample)
    model.compile(optimizer=make_optimizer(model.model_config), jit_compile=False)
    history = model.fit(data, epochs=2, shuffle=False, verbose=0, callbacks=fit_callbacks(dataset, train_config))

    for key in ("loss", "val_recall@10", "val_mrr"):
        np.testing.assert_allclose(history.history[key], reference_history[key], rtol=1e-5, err_msg=key)
    assert {"epoch_seconds", "events_per_second"} <= set(history.history)
    for mine, theirs in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    assert int(model.optimizer.iterations.numpy()) == int(reference.optimizer.iterations.numpy())


def test_padding_sample_changes_no_state(tiny_data_dir):
    dataset = PreparedDataset(tiny_data_dir)
    config = model_config_for(dataset, model="tcn", embedding_dim=8, flat_tcn_channels=(8,), batch_size=2, flat_len=5)
    _, sample = training_data(dataset, config)
    assert sample["items"].shape[0] == 2 and not sample["score"].any() and not np.asarray(sample["items"]).any()
