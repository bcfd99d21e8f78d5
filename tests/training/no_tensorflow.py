"""Run the `hiertcn` CLI with TensorFlow unimportable (a meta-path finder refuses it).

Used by `test_backends.py` as `python no_tensorflow.py train ...`; exits 3 if anything managed to
import TensorFlow anyway. `python no_tensorflow.py import-tensorflow` shows the block works.
"""

import importlib.abc
import sys


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"TensorFlow is blocked in this process: {name}")
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, _NoTensorFlow())
    if sys.argv[1:] == ["import-tensorflow"]:
        import tensorflow  # noqa: F401  (raises ImportError)
    from hiertcn_keras.cli import main

    code = main(sys.argv[1:])
    sys.exit(3 if "tensorflow" in sys.modules else code)
