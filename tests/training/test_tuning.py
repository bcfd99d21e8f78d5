"""`tune_neural` / `tune_baseline`: every trial saved, the best run kept and loadable.

Tiny data (`tiny_data_dir`, 6 users) and tiny models (widths 8) for 1 epoch per trial, with a
search space of two learning rates, so two trials take a few seconds.
"""

import csv
import json

import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.training.evaluate import evaluate_recommender
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import load_run, model_config_for
from hiertcn_keras.training.tuning import TuneConfig, tune_baseline, tune_neural

TINY = dict(embedding_dim=8, high_units=(8, 8), tcn_channels=(8, 8), kernel_size=2, batch_size=2,
            sessions_per_batch=2, learning_rate=1e-2, dropout=0.1)
SPACE = {"learning_rate": ("categorical", (1e-3, 1e-2)), "dropout": ("float", 0.0, 0.3, False)}


@pytest.fixture(scope="module")
def search(tiny_data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "search"
    config = model_config_for(PreparedDataset(tiny_data_dir), model="hiertcn", **TINY)
    loop = TrainConfig(epochs=1, jit_compile=False, verbose=0)
    result = tune_neural(tiny_data_dir, config, loop, out, TuneConfig(trials=2, prune=False), space=SPACE)
    return out, result


def test_every_trial_is_saved_with_settings_and_validation_metrics(search):
    out, result = search
    trials = json.loads((out / "trials.json").read_text())
    assert [t["number"] for t in trials] == [0, 1] and result["n_trials"] == 2
    assert trials[0]["params"] == {"learning_rate": 1e-2, "dropout": 0.1}  # the defaults come first
    for t in trials:
        assert t["state"] == "COMPLETE" and set(t["params"]) == set(SPACE)
        assert t["validation"]["recall@10"] == pytest.approx(t["value"])
        assert t["best_epoch"] == 1 and t["epochs_trained"] == 1
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 2 and "params.learning_rate" in rows[0] and "validation.mrr" in rows[0]


def test_best_run_is_a_loadable_run_with_its_test_metrics(search, tiny_data_dir):
    out, result = search
    best = max(json.loads((out / "trials.json").read_text()), key=lambda t: t["value"])
    assert result["best_trial"] == best["number"] and result["best_params"] == best["params"]
    model, record = load_run(out / "best")
    assert record["tuning"]["params"] == best["params"]
    assert model.model_config.learning_rate == best["params"]["learning_rate"]
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    again = evaluate_recommender(model, PreparedDataset(tiny_data_dir), "test")
    assert metrics["recall@10"] == pytest.approx(again["recall@10"]) and metrics["split"] == "test"


def test_a_finished_search_resumes_without_new_trials(search, tiny_data_dir):
    out, result = search
    config = model_config_for(PreparedDataset(tiny_data_dir), model="hiertcn", **TINY)
    again = tune_neural(tiny_data_dir, config, TrainConfig(epochs=1, jit_compile=False, verbose=0), out,
                        TuneConfig(trials=2, prune=False), space=SPACE)
    assert again["n_trials"] == 2 and again["best_trial"] == result["best_trial"]


def test_baseline_search_visits_distinct_settings(tiny_data_dir, tmp_path):
    from hiertcn_keras.models.simple_baselines import SessionKNN

    dataset = PreparedDataset(tiny_data_dir)
    seen = []

    def fit(name, params):
        seen.append(params)
        return SessionKNN(**params).fit(dataset.view("train"), dataset.n_items, dataset.n_catalogue)

    defaults = {"k": 100, "user_sessions": 2, "history_weight": 0.5}
    space = {"k": ("categorical", (25, 100, 500)), "user_sessions": ("categorical", (1, 2)),
             "history_weight": ("categorical", (0.5, 1.0))}
    result = tune_baseline("sknn", dataset, tmp_path, TuneConfig(trials=4), fit=fit, space=space, defaults=defaults)
    trials = json.loads((tmp_path / "trials.json").read_text())
    assert trials[0]["params"] == defaults and seen[0] == defaults
    assert len(trials) == 4 and len({json.dumps(t["params"], sort_keys=True) for t in trials}) == 4
    assert result["test"]["split"] == "test" and result["test"]["tuned_params"] == result["best_params"]


@pytest.mark.parametrize("changes", [{"trials": 0}, {"timeout": 0}, {"monitor": "mrp"}])
def test_budget_is_validated(changes):
    with pytest.raises(ValueError):
        TuneConfig(**changes)


def test_pretrained_space_leaves_out_what_the_frozen_vectors_fix():
    from hiertcn_keras.models.config import ModelConfig
    from hiertcn_keras.training.tuning import NEURAL_SPACE, neural_space

    learned = ModelConfig(model="hiertcn", n_items=5, n_catalogue=3)
    pretrained = learned.replace(item_space="pretrained", loss="hinge", tied_embeddings=False)
    assert neural_space(learned) == NEURAL_SPACE
    assert set(NEURAL_SPACE) - set(neural_space(pretrained)) == {"tied_embeddings", "embedding_dim",
                                                                 "embedding_dropout"}
