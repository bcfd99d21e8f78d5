"""On-disk artifacts, the ground floor: formats and files, no Keras.

Modules: `errors` (`DataError`, the one error for bad input data), `atomic` (writes that leave
nothing partial behind), `hashing` (the chunked file checksum), `session_rules` (the session
settings a prepared dataset records), `prepared` (the files of a prepared dataset folder),
`store_format`, `embedding_store` and `store_shards` (the item embedding store), `run_dir`
(the files of a run directory; loading its Keras model is `training.trainer.load_run`).

Every other package may import this one; it imports none of them. The names below are imported
on first use, so that importing `DataError` does not load pandas or pyarrow.
"""

import importlib

_EXPORTS = {
    "DataError": "errors",
    "SessionRules": "session_rules",
    "sha256_file": "hashing",
    "FORMAT_VERSION": "store_format",
    "EmbeddingStore": "embedding_store",
    "save_npy_as_store": "embedding_store",
    "write_store": "embedding_store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
