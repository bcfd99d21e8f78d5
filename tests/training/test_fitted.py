"""`experiments.fitted`: a fitted model is found again only under exactly its settings."""

import numpy as np

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training.experiments.fitted import fit_settings, load_fitted, save_fitted
from hiertcn_keras.training.keras_fit import training_data
from hiertcn_keras.training.trainer import model_config_for


def _model(dataset, **fields):
    config = model_config_for(dataset, model="hiertcn", embedding_dim=8, high_units=(8,), tcn_channels=(8,),
                              batch_size=2, sessions_per_batch=2, **fields)
    model = build_recommender(config, item_counts=dataset.item_counts("train"))
    model(training_data(dataset, model.model_config)[1])
    return model


def test_saved_fit_loads_under_its_settings_only(tiny_data_dir, tmp_path):
    dataset = PreparedDataset(tiny_data_dir)
    model = _model(dataset)
    settings = fit_settings(model.model_config, dataset, epochs=2)
    history = {"loss": [np.float32(2.5), 2.0], "val_recall@10": [0.1, 0.2]}
    save_fitted(tmp_path / "hiertcn", model, settings, history, {"recall@10": 0.3})

    loaded, record = load_fitted(tmp_path / "hiertcn", settings)
    assert record["history"] == {"loss": [2.5, 2.0], "val_recall@10": [0.1, 0.2]}
    assert record["metrics"] == {"recall@10": 0.3}
    for mine, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)

    assert load_fitted(tmp_path / "hiertcn", fit_settings(model.model_config, dataset, epochs=3)) is None
    other = _model(dataset, learning_rate=0.5)
    assert load_fitted(tmp_path / "hiertcn", fit_settings(other.model_config, dataset, epochs=2)) is None
    matrix = np.ones((dataset.n_items, 8), np.float32)
    assert load_fitted(tmp_path / "hiertcn", fit_settings(model.model_config, dataset, epochs=2,
                                                          item_matrix=matrix)) is None
    assert load_fitted(tmp_path / "absent", settings) is None
