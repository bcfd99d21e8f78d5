"""The recency prior in evaluation and its choice on validation, on the tiny prepared dataset."""

import keras
import numpy as np
import pytest

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.models.recommender import build_recommender
from hiertcn_keras.training.evaluate import batcher_for, evaluate_recommender
from hiertcn_keras.training.recency_choice import choose_recency
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import load_run, model_config_for, train

TINY = dict(embedding_dim=8, high_units=(8, 8), tcn_channels=(8, 8), kernel_size=2, batch_size=2,
            sessions_per_batch=2)


@pytest.fixture(scope="module")
def dataset(tiny_data_dir):
    return PreparedDataset(tiny_data_dir)


@pytest.fixture(scope="module")
def model(dataset):
    keras.utils.set_random_seed(0)
    rec = build_recommender(model_config_for(dataset, model="hiertcn", recency_prior=True, **TINY))
    rec(next(iter(batcher_for(rec.model_config, dataset.view("train")).batches())))
    rng = np.random.default_rng(0)
    for variable in rec.trainable_variables:  # no accidental ties
        variable.assign(rng.normal(scale=0.5, size=variable.shape).astype("float32"))
    return rec


def with_prior(rec, **values):
    rec.model_config = rec.model_config.replace(**values)
    return rec


def test_beta_zero_is_the_plain_model_and_a_large_beta_is_recent_popularity(dataset, model):
    plain = evaluate_recommender(with_prior(model, recency_hours=None, recency_beta=None), dataset)
    zero = evaluate_recommender(with_prior(model, recency_hours=3.0, recency_beta=0.0), dataset)
    assert zero == plain and "recency_beta" not in zero
    # With a huge weight the window counts decide every order they can: the ranks move.
    big = evaluate_recommender(with_prior(model, recency_hours=3.0, recency_beta=1e4), dataset)
    assert big["recency_beta"] == 1e4 and big["n_events"] == plain["n_events"]
    assert big["mrr"] != plain["mrr"]
    with_prior(model, recency_hours=None, recency_beta=None)


def test_the_choice_keeps_beta_zero_unless_a_weight_is_better_on_validation(dataset, model):
    choice = choose_recency(model, dataset, hours=(1.0, 3.0), betas=(0.0, 1.0, 1e4), no_worse=())
    values = {(g["hours"], g["beta"]): g["recall@10"] for g in choice["grid"]}
    assert set(values) == {(1.0, 0.0), (1.0, 1.0), (1.0, 1e4), (3.0, 1.0), (3.0, 1e4)}  # beta 0 once
    assert choice["value"] == max(values.values()) and choice["plain"] == values[(1.0, 0.0)]
    if choice["value"] == choice["plain"]:
        assert choice["beta"] == 0.0  # a tie keeps the plain model
    plain_valid = evaluate_recommender(model, dataset, "valid")
    assert choice["plain"] == pytest.approx(plain_valid["recall@10"])


def test_by_default_the_choice_lowers_neither_validation_recall_nor_mrr(dataset, model):
    choice = choose_recency(model, dataset, hours=(1.0, 3.0), betas=(0.0, 1.0, 1e4))
    grid = {(g["hours"], g["beta"]): g for g in choice["grid"]}
    plain = grid[(1.0, 0.0)]
    chosen = grid[(choice["hours"], choice["beta"])]
    assert choice["no_worse"] == ["recall@10", "mrr"]
    assert chosen["recall@10"] >= plain["recall@10"] and chosen["mrr"] >= plain["mrr"]
    allowed = [g for g in grid.values() if g["recall@10"] >= plain["recall@10"] and g["mrr"] >= plain["mrr"]]
    assert chosen["recall@10"] == max(g["recall@10"] for g in allowed)


def test_a_weight_that_trades_mrr_for_recall_is_not_chosen(dataset, model, monkeypatch):
    # A grid where the only weight with more Recall@10 has less MRR: the plain model stays.
    from hiertcn_keras.metrics import RankingMetrics

    results = iter([{"recall@10": 0.5, "mrr": 0.3}, {"recall@10": 0.6, "mrr": 0.2}])
    monkeypatch.setattr(RankingMetrics, "result", lambda self: next(results))
    choice = choose_recency(model, dataset, hours=(1.0,), betas=(0.0, 1.0))
    assert (choice["beta"], choice["value"], choice["plain"]) == (0.0, 0.5, 0.5)
    choice_r = [g for g in choice["grid"] if g["beta"] == 1.0][0]
    assert (choice_r["recall@10"], choice_r["mrr"]) == (0.6, 0.2)


def test_training_records_the_chosen_prior_in_the_saved_model(tiny_data_dir, tmp_path):
    dataset = PreparedDataset(tiny_data_dir)
    config = model_config_for(dataset, model="hiertcn", recency_prior=True, recency_hours=3.0, transition_prior=True,
                              **TINY)
    _, _, metrics = train(tiny_data_dir, config, TrainConfig(epochs=1, verbose=0), tmp_path / "run")
    choice = metrics["prior_choice"]
    assert choice["hours"] == 3.0 and choice["beta"] >= 0 and choice["gamma"] >= 0 and choice["split"] == "valid"
    loaded, record = load_run(tmp_path / "run")  # the .keras file carries the chosen priors
    chosen = loaded.model_config
    assert (chosen.recency_hours, chosen.recency_beta, chosen.transition_gamma) == (3.0, choice["beta"], choice["gamma"])
    assert (record["model"]["recency_beta"], record["model"]["transition_gamma"]) == (choice["beta"], choice["gamma"])
    again = evaluate_recommender(loaded, dataset)
    assert (again["recall@10"], again["mrr"]) == (metrics["recall@10"], metrics["mrr"])
    for unchosen in (config.replace(recency_hours=None), config.replace(recency_prior=False, recency_hours=None)):
        with pytest.raises(ValueError, match="chosen on the validation split"):
            train(tiny_data_dir, unchosen, TrainConfig(epochs=1, verbose=0, validate=False), tmp_path / "run2")


def test_gamma_zero_is_the_plain_model_and_a_large_gamma_follows_the_counts(dataset, model):
    plain = evaluate_recommender(with_prior(model, recency_hours=None, recency_beta=None), dataset)
    zero = evaluate_recommender(with_prior(model, transition_prior=True, transition_gamma=0.0), dataset)
    assert zero == plain and "transition_gamma" not in zero
    big = evaluate_recommender(with_prior(model, transition_gamma=1e4), dataset)
    assert big["transition_gamma"] == 1e4 and big["n_events"] == plain["n_events"] and big["mrr"] != plain["mrr"]
    both = evaluate_recommender(with_prior(model, recency_hours=3.0, recency_beta=1e4, transition_gamma=1e4), dataset)
    assert (both["recency_beta"], both["transition_gamma"]) == (1e4, 1e4) and both["mrr"] not in (big["mrr"], plain["mrr"])
    with_prior(model, recency_hours=None, recency_beta=None, transition_prior=False, transition_gamma=None)


def test_the_priors_are_chosen_jointly_and_gamma_zero_stays_eligible(dataset, model):
    with_prior(model, transition_prior=True, transition_gamma=None)
    try:
        choice = choose_recency(model, dataset, hours=(1.0, 3.0), betas=(0.0, 1e4), gammas=(0.0, 1.0, 1e4))
    finally:
        with_prior(model, transition_prior=False, transition_gamma=None)
    grid = {(g["hours"], g["beta"], g["gamma"]): g for g in choice["grid"]}
    # beta 0 under the first window only, each with every gamma: 3 + 2 windows × 3 gammas.
    assert set(grid) == {(1.0, 0.0, g) for g in (0.0, 1.0, 1e4)} | {(h, 1e4, g) for h in (1.0, 3.0)
                                                                     for g in (0.0, 1.0, 1e4)}
    plain = grid[(1.0, 0.0, 0.0)]
    chosen = grid[(choice["hours"], choice["beta"], choice["gamma"])]
    assert choice["plain"] == plain["recall@10"]
    assert chosen["recall@10"] >= plain["recall@10"] and chosen["mrr"] >= plain["mrr"]
    allowed = [g for g in grid.values() if g["recall@10"] >= plain["recall@10"] and g["mrr"] >= plain["mrr"]]
    assert chosen["recall@10"] == max(g["recall@10"] for g in allowed)
    # The grid's values are the evaluation's at those weights.
    key = (3.0, 1e4, 1.0)
    direct = evaluate_recommender(with_prior(model, recency_hours=3.0, recency_beta=1e4, transition_prior=True,
                                             transition_gamma=1.0), dataset, "valid")
    with_prior(model, recency_hours=None, recency_beta=None, transition_prior=False, transition_gamma=None)
    assert (grid[key]["recall@10"], grid[key]["mrr"]) == pytest.approx((direct["recall@10"], direct["mrr"]))


def test_only_the_transition_prior_searches_gamma_alone(dataset, model):
    with_prior(model, recency_prior=False, recency_hours=None, recency_beta=None, transition_prior=True)
    try:
        choice = choose_recency(model, dataset, gammas=(0.0, 2.0))
    finally:
        with_prior(model, recency_prior=True, transition_prior=False, transition_gamma=None)
    assert [(g["hours"], g["beta"], g["gamma"]) for g in choice["grid"]] == [(None, 0.0, 0.0), (None, 0.0, 2.0)]
    assert choice["hours"] is None and choice["beta"] == 0.0 and choice["gamma"] in (0.0, 2.0)
