"""The default loss follows the catalogue size in the learned item space; an explicit loss wins."""

import pytest

from hiertcn_keras.models.config import ModelConfig
from hiertcn_keras.models.loss_choice import SAMPLED_SOFTMAX_FROM, default_loss, describe_choice


def test_default_loss_switches_at_the_threshold():
    assert default_loss("learned", SAMPLED_SOFTMAX_FROM - 1) == "softmax"
    assert default_loss("learned", SAMPLED_SOFTMAX_FROM) == "sampled_softmax"
    assert default_loss("pretrained", 10 * SAMPLED_SOFTMAX_FROM) == "hinge"
    assert default_loss("learned", 500, threshold=500) == "sampled_softmax"
    assert default_loss("learned", 100, "gru4rec") == "sampled_softmax"


def test_gru4rec_keeps_its_own_loss():
    config = ModelConfig(model="gru4rec", n_items=200, n_catalogue=100)
    assert (config.loss, config.loss_by_default) == ("sampled_softmax", True)
    assert describe_choice(config).startswith("gru4rec's own loss")


@pytest.mark.parametrize("n_catalogue, loss", [(1_000, "softmax"), (SAMPLED_SOFTMAX_FROM - 1, "softmax"),
                                               (SAMPLED_SOFTMAX_FROM, "sampled_softmax"),
                                               (45_000, "sampled_softmax")])
def test_config_picks_by_catalogue_and_records_it(n_catalogue, loss):
    config = ModelConfig(n_items=n_catalogue + 10, n_catalogue=n_catalogue)
    assert (config.loss, config.loss_by_default) == (loss, True)
    assert describe_choice(config).startswith(f"chosen for a catalogue of {n_catalogue:,} items")
    again = ModelConfig.from_dict(config.to_dict())
    assert again == config and again.to_dict()["loss_by_default"] is True


@pytest.mark.parametrize("loss", ["softmax", "sampled_softmax"])
def test_an_explicit_loss_always_wins(loss):
    for n_catalogue in (100, 45_000):
        config = ModelConfig(n_items=n_catalogue + 1, n_catalogue=n_catalogue, loss=loss)
        assert (config.loss, config.loss_by_default) == (loss, False)
        assert describe_choice(config) == "given explicitly"


def test_a_config_recorded_before_the_rule_reads_as_explicit():
    recorded = ModelConfig(n_items=50_001, n_catalogue=50_000, loss="softmax").to_dict()
    del recorded["loss_by_default"]
    assert ModelConfig.from_dict(recorded).loss == "softmax"
    assert not ModelConfig.from_dict(recorded).loss_by_default


def test_a_derived_config_keeps_its_loss_and_says_so():
    # A refit grows the catalogue past the threshold: the epochs were chosen for the full softmax.
    small = ModelConfig(n_items=SAMPLED_SOFTMAX_FROM, n_catalogue=SAMPLED_SOFTMAX_FROM - 1)
    grown = small.replace(n_items=SAMPLED_SOFTMAX_FROM + 50, n_catalogue=SAMPLED_SOFTMAX_FROM + 40)
    assert grown.loss == "softmax" and "derived" in describe_choice(grown)
    pretrained = ModelConfig(n_items=20, n_catalogue=10, item_space="pretrained", output_dim=8)
    assert pretrained.loss == "hinge" and "pretrained" in describe_choice(pretrained)


def test_the_cli_help_states_the_threshold():
    from pathlib import Path

    import hiertcn_keras.cli.common as common

    assert f"below {SAMPLED_SOFTMAX_FROM:,} items" in Path(common.__file__).read_text()


def test_the_sampled_softmax_defaults_to_popularity_and_in_batch_negatives():
    from hiertcn_keras.models.loss_choice import (GRU4REC_NEGATIVES, PAIRWISE_NEGATIVES, SAMPLED_NEGATIVES,
                                                  describe_negatives)

    config = ModelConfig(n_items=45_010, n_catalogue=45_000)
    assert (config.loss, config.n_negatives, config.negative_distribution, config.in_batch_negatives) == (
        "sampled_softmax", SAMPLED_NEGATIVES, "popularity", True)
    assert describe_negatives(config) == (f"{SAMPLED_NEGATIVES:,} shared negatives (popularity^0.75) and the "
                                          "batch's targets, log-Q corrected")
    # Each setting given explicitly wins; the full softmax, GRU4Rec and the pairwise losses keep theirs.
    given = ModelConfig(n_items=45_010, n_catalogue=45_000, n_negatives=20, negative_distribution="uniform",
                        in_batch_negatives=False)
    assert describe_negatives(given) == "20 shared negatives (uniform), log-Q corrected"
    small = ModelConfig(n_items=110, n_catalogue=100)
    assert (small.n_negatives, small.negative_distribution, small.in_batch_negatives) == PAIRWISE_NEGATIVES
    gru4rec = ModelConfig(model="gru4rec", n_items=110, n_catalogue=100)
    assert (gru4rec.n_negatives, gru4rec.negative_distribution, gru4rec.in_batch_negatives) == GRU4REC_NEGATIVES
    pretrained = ModelConfig(n_items=20, n_catalogue=10, item_space="pretrained", output_dim=8)
    assert (pretrained.n_negatives, pretrained.in_batch_negatives) == (20, False)
    # A config recorded before in-batch negatives existed trained without them.
    recorded = config.to_dict()
    del recorded["in_batch_negatives"]
    assert ModelConfig.from_dict(recorded).in_batch_negatives is False
