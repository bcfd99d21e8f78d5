"""`memory_reuse`: TensorFlow's pooled CPU allocator and glibc's `malloc` settings, set once per process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hiertcn_keras.training import memory_reuse


class FakeLibc:
    """Records `mallopt` calls; answers `result` (glibc: 1 on success, 0 on error)."""

    def __init__(self, result=1):
        self.calls, self.result = [], result

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return self.result


def test_it_pools_tensorflow_memory_and_keeps_malloc_memory():
    environ, libc = {}, FakeLibc()
    done = memory_reuse.keep_freed_memory(environ, libc)
    assert environ == {"TF_CPU_ALLOCATOR_USE_BFC": "true"}
    assert libc.calls == [(memory_reuse.M_TRIM_THRESHOLD, 2**31 - 1)]
    assert done == {"TF_CPU_ALLOCATOR_USE_BFC": "true", "mallopt": True}


def test_an_explicit_tensorflow_setting_wins():
    environ = {"TF_CPU_ALLOCATOR_USE_BFC": "false"}
    done = memory_reuse.keep_freed_memory(environ, FakeLibc())
    assert environ["TF_CPU_ALLOCATOR_USE_BFC"] == "false"
    assert done["TF_CPU_ALLOCATOR_USE_BFC"] == "false"


@pytest.mark.parametrize("value", ["0", "false", "No", " off "])
def test_the_switch_turns_both_off(value):
    environ, libc = {"HIERTCN_KEEP_FREED_MEMORY": value}, FakeLibc()
    assert memory_reuse.keep_freed_memory(environ, libc) == {}
    assert "TF_CPU_ALLOCATOR_USE_BFC" not in environ and libc.calls == []


def test_a_refused_mallopt_is_reported():
    assert memory_reuse.keep_freed_memory({}, FakeLibc(result=0))["mallopt"] is False


@pytest.mark.skipif(memory_reuse.load_glibc() is None, reason="needs glibc")
def test_glibc_accepts_the_settings():
    # mallopt is process-wide and harmless to repeat: every training run of this process sets it.
    assert memory_reuse.keep_freed_memory({})["mallopt"] is True


def test_train_applies_it_before_anything_else(monkeypatch, tmp_path):
    from hiertcn_keras.training import trainer

    class Applied(Exception):
        pass

    def applied():
        raise Applied

    monkeypatch.setattr(memory_reuse, "keep_freed_memory", applied)
    with pytest.raises(Applied):
        trainer.train(tmp_path / "no-data", None, None, tmp_path / "run")


@pytest.mark.slow  # a fresh process: TensorFlow's allocator is chosen once per process
def test_hiertcn_train_runs_on_the_pooled_allocator(tiny_data_dir, tmp_path):
    # TensorFlow reports allocator statistics on the CPU only for its pooled (BFC) allocator.
    script = (
        "import sys, tensorflow as tf\n"
        "from hiertcn_keras.cli import main\n"
        "assert main(sys.argv[1:]) == 0\n"
        "print('pooled', tf.config.experimental.get_memory_info('CPU:0')['peak'] > 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPU_ALLOCATOR_USE_BFC", "HIERTCN_KEEP_FREED_MEMORY")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-c", script, "train", "--data", str(tiny_data_dir), "--model", "hiertcn",
                           "--out", str(tmp_path / "run"), "--epochs", "1", "--no-jit", "--quiet"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pooled True" in done.stdout
