"""The shared model options of `train`, `tune` and `compare` (`hiertcn_keras.cli.common`)."""

import argparse

import pytest

from hiertcn_keras.cli.common import add_model_options, model_overrides
from hiertcn_keras.models.config import ModelConfig


def _args(*argv, models=None):
    parser = argparse.ArgumentParser()
    add_model_options(parser)
    if models is not None:
        parser.add_argument("--models", nargs="+")
        argv = (*argv, "--models", *models)
    return parser.parse_args(list(argv))


def _config(overrides):
    values = {k: v for k, v in overrides.items() if v is not None}
    return ModelConfig(**{"n_items": 12, "n_catalogue": 11, **values})


def test_last_item_residual_is_on_by_default_for_the_hierarchical_models_only():
    assert model_overrides(_args(), "hiertcn")["last_item_residual"] is None  # the config's default
    for model, expected in (("hiertcn", True), ("hiergru", True), ("hrnn", False), ("gru", False),
                            ("gru4rec", False), ("tcn", False)):
        assert _config(model_overrides(_args(), model)).last_item_residual is expected, model
    assert model_overrides(_args("--last-item-residual"), "hiertcn")["last_item_residual"] is True


@pytest.mark.parametrize("models", [None, ["hiertcn", "gru", "successor"]])
def test_no_last_item_residual_trains_the_papers_plain_model(models):
    args = _args("--no-last-item-residual", models=models)
    assert _config(model_overrides(args, "hiertcn")).last_item_residual is False
    assert _config(model_overrides(args, "hiergru")).last_item_residual is False
    assert _config(model_overrides(args, "gru")).last_item_residual is False


@pytest.mark.parametrize("model, expected", [("hiertcn", True), ("hiergru", True), ("gru", None), ("gru4rec", None)])
def test_compare_applies_the_last_item_residual_to_the_hierarchical_models_only(model, expected):
    args = _args("--last-item-residual", models=["hiertcn", "gru", "successor"])
    assert model_overrides(args, model)["last_item_residual"] is expected


def test_train_passes_the_residual_on_so_a_flat_model_is_refused_by_its_config():
    # `train --model gru --last-item-residual`: kept, and ModelConfig names the problem.
    assert model_overrides(_args("--last-item-residual"), "gru")["last_item_residual"] is True


def _verb_args(*argv, recency_default):
    parser = argparse.ArgumentParser()
    add_model_options(parser, recency_default=recency_default)
    return parser.parse_args(list(argv))


def test_compare_and_tune_default_to_the_recency_prior_train_does_not():
    on = model_overrides(_verb_args(recency_default=True), "hiertcn")
    assert (on["recency_prior"], on["recency_hours"], on["recency_beta"]) == (True, None, None)  # chosen on valid
    off = model_overrides(_verb_args("--no-recency-prior", recency_default=True), "hiertcn")
    assert off["recency_prior"] is False
    assert model_overrides(_verb_args(recency_default=False), "hiertcn")["recency_prior"] is None  # config: off
    fixed = model_overrides(_verb_args("--recency-hours", "3", recency_default=True), "hiertcn")
    assert (fixed["recency_prior"], fixed["recency_hours"]) == (True, 3.0)
    with pytest.raises(ValueError, match="need the recency prior"):
        model_overrides(_verb_args("--no-recency-prior", "--recency-beta", "1", recency_default=True), "hiertcn")


def test_in_batch_negatives_flag_is_passed_on_or_left_to_the_default():
    assert model_overrides(_args(), "hiertcn")["in_batch_negatives"] is None  # the config picks
    assert model_overrides(_args("--in-batch-negatives"), "hiertcn")["in_batch_negatives"] is True
    off = model_overrides(_args("--no-in-batch-negatives", "--negatives", "4096"), "hiertcn")
    assert (off["in_batch_negatives"], off["n_negatives"]) == (False, 4096)


def test_session_rows_choose_the_hiertcn_training_layout():
    assert model_overrides(_args(), "hiertcn")["packed_sessions"] is None  # the config's default (packed)
    assert model_overrides(_args("--session-rows", "padded"), "hiertcn")["packed_sessions"] is False
    assert model_overrides(_args("--session-rows", "packed"), "hiertcn")["packed_sessions"] is True
    # compare: the other models keep their layout; train: passed on, and ModelConfig refuses it.
    assert model_overrides(_args("--session-rows", "packed", models=["hiertcn", "hiergru"]), "hiergru")[
        "packed_sessions"] is None
    assert model_overrides(_args("--session-rows", "packed"), "hiergru")["packed_sessions"] is True


def test_compare_and_tune_default_to_the_transition_prior_train_does_not():
    on = model_overrides(_verb_args(recency_default=True), "hiertcn")
    assert (on["transition_prior"], on["transition_gamma"]) == (True, None)  # chosen on validation
    assert model_overrides(_verb_args("--no-transition-prior", recency_default=True), "hiertcn")["transition_prior"] is False
    assert model_overrides(_verb_args(recency_default=False), "hiertcn")["transition_prior"] is None  # config: off
    explicit = model_overrides(_verb_args("--transition-prior", recency_default=False), "hiertcn")
    assert (explicit["transition_prior"], explicit["transition_gamma"]) == (True, None)
    fixed = model_overrides(_verb_args("--transition-gamma", "2", recency_default=False), "hiertcn")
    assert (fixed["transition_prior"], fixed["transition_gamma"]) == (True, 2.0)
    with pytest.raises(ValueError, match="needs the transition prior"):
        model_overrides(_verb_args("--no-transition-prior", "--transition-gamma", "1", recency_default=True), "hiertcn")
