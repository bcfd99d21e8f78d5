"""Shared helpers of the layer tests: fixed seeds and the `.keras` round trip."""

import keras
import pytest


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def save_and_load(tmp_path):
    """save_and_load(model) -> the model saved to `.keras` and loaded back.

    Loads in safe mode and without `custom_objects`: every custom object must be registered.
    """

    def roundtrip(model):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        return keras.models.load_model(path)

    return roundtrip


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def np_out():
    """np_out(layer_or_model, *args, **kwargs) -> its output(s) as NumPy arrays."""

    def run(fn, *args, **kwargs):
        out = fn(*args, **kwargs)
        if isinstance(out, (list, tuple)):
            return type(out)(to_numpy(o) for o in out)
        if isinstance(out, dict):
            return {k: to_numpy(v) for k, v in out.items()}
        return to_numpy(out)

    return run
