import os
import sys

import pytest

from hiertcn_keras.cli import quiet


@pytest.fixture
def noisy_module(tmp_path, monkeypatch):
    """A top-level module that writes to file descriptor 2 from 'native code' when imported."""
    name = "hiertcn_fake_noisy_native"
    (tmp_path / f"{name}.py").write_text(
        "import os\nos.write(2, b'Could not find cuda drivers on your machine\\n')\nVALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)
    sys.meta_path[:] = [hook for hook in sys.meta_path if not isinstance(hook, quiet.QuietImport)]


def test_the_first_import_runs_with_native_stderr_muted(noisy_module, capfd, monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    hook = quiet.mute_tensorflow_startup(noisy_module)
    assert hook is not None
    module = __import__(noisy_module)
    assert module.VALUE == 7 and module.__spec__.name == noisy_module
    assert hook not in sys.meta_path  # one shot
    os.write(2, b"after\n")  # the descriptor is restored
    err = capfd.readouterr().err
    assert "cuda" not in err and err == "after\n"


def test_without_the_hook_the_line_is_printed(noisy_module, capfd):
    # The control: the fake module does print, so the test above can fail.
    __import__(noisy_module)
    assert "Could not find cuda drivers" in capfd.readouterr().err


def test_asking_for_tensorflow_logs_mutes_nothing(noisy_module, capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert quiet.mute_tensorflow_startup(noisy_module) is None
    __import__(noisy_module)
    assert "Could not find cuda drivers" in capfd.readouterr().err


def test_an_import_error_still_surfaces(tmp_path, monkeypatch, capfd):
    name = "hiertcn_fake_broken_native"
    (tmp_path / f"{name}.py").write_text("import os\nos.write(2, b'noise\\n')\nraise ImportError('libfoo.so missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    quiet.mute_tensorflow_startup(name)
    with pytest.raises(ImportError, match="libfoo.so missing"):
        __import__(name)
    os.write(2, b"restored\n")
    assert capfd.readouterr().err == "restored\n"
    sys.modules.pop(name, None)
