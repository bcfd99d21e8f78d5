"""The default batch of a hierarchical model follows the number of training events; an explicit one wins."""

import pytest

from hiertcn_keras.models import batch_choice as bc
from hiertcn_keras.models.config import ModelConfig


@pytest.mark.parametrize("events, batch", [(1, 8), (bc.EVENTS_PER_BASE_BATCH, 8), (2 * bc.EVENTS_PER_BASE_BATCH - 1, 8),
                                           (2 * bc.EVENTS_PER_BASE_BATCH, 16), (600_000, 16), (800_000, 32),
                                           (2_398_739, 64), (10**9, bc.MAX_DEFAULT_BATCH)])
def test_default_batch_doubles_with_the_log(events, batch):
    assert bc.default_batch_size(events) == batch


def test_flat_models_keep_the_base_batch():
    for model in ("tcn", "gru", "gru4rec"):
        assert bc.default_batch_size(10**8, model) == bc.BASE_BATCH


def test_learning_rate_follows_the_square_root_rule():
    assert bc.scaled_learning_rate(bc.BASE_BATCH) == bc.BASE_LEARNING_RATE == ModelConfig.learning_rate
    assert bc.scaled_learning_rate(32) == pytest.approx(2 * bc.BASE_LEARNING_RATE)


def test_describe_batch_names_the_rule_or_says_given():
    chosen = ModelConfig(n_items=100, n_catalogue=90, batch_size=64, batch_by_default=True, learning_rate=0.0085)
    text = bc.describe_batch(chosen, 2_398_739)
    assert text.startswith("chosen for 2,398,739 training events") and "--batch-size overrides" in text
    assert "learning rate 0.0085" in text
    assert bc.describe_batch(ModelConfig(n_items=100, n_catalogue=90, batch_size=64)) == "given explicitly"


def test_a_config_recorded_before_the_rule_reads_as_explicit():
    recorded = ModelConfig(n_items=100, n_catalogue=90).to_dict()
    del recorded["batch_by_default"]
    assert not ModelConfig.from_dict(recorded).batch_by_default
