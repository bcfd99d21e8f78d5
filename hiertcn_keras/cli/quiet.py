"""Mute TensorFlow's native start-up lines on the command line.

The full `tensorflow` wheel logs "Could not find cuda drivers on your machine, GPU will not be
used." once from each of two native libraries while `import tensorflow` runs, through absl's
C++ logging *before* TensorFlow initialises it, so `TF_CPP_MIN_LOG_LEVEL` (read later) cannot
hide them: every verb that trains or evaluates printed them twice. The command line therefore
points file descriptor 2 at the null device for the duration of that one import. Python
exceptions raised by the import still propagate (they are printed after the descriptor is
restored), and nothing is muted when the user asked for TensorFlow's logs with
`TF_CPP_MIN_LOG_LEVEL=0`.

This is wired in by `hiertcn_keras.cli.main` only: importing the package as a library changes
nothing.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys


@contextlib.contextmanager
def native_stderr_muted():
    """Points file descriptor 2 (what C++ code writes to) at the null device, then restores it."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _MutedLoader:
    """Runs another loader's `exec_module` with native stderr muted; delegates everything else."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with native_stderr_muted():
            self._loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class QuietImport(importlib.abc.MetaPathFinder):
    """A one-shot import hook: the first import of the top-level module `name` runs muted.

    Args:
        name: str. Top-level module name. Defaults to `"tensorflow"`.
    """

    def __init__(self, name="tensorflow"):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # one shot, and lets the real finders answer below
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _MutedLoader(spec.loader)
        return spec


def mute_tensorflow_startup(name="tensorflow"):
    """Installs `QuietImport(name)` unless the module is loaded already or logs were asked for.

    Args:
        name: str. Top-level module to mute. Defaults to `"tensorflow"`.

    Returns:
        The installed hook, or `None` when nothing was installed.
    """
    if name in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") == "0":
        return None
    if any(isinstance(hook, QuietImport) and hook.name == name for hook in sys.meta_path):
        return None
    hook = QuietImport(name)
    sys.meta_path.insert(0, hook)
    return hook
