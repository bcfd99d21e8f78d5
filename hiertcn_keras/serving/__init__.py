"""Serving: the user-interest store, the online recommender, retrieval, HTTP (the top floor).

The item embedding store it reads lives one floor down, in `hiertcn_keras.artifacts`.
Modules: `serving_run` and `item_catalog` (what
a run directory serves), `online_model` (the trained model's two online steps), `user_step`
(both fused into one compiled call per event), `numpy_step` (the same HierTCN update in NumPy
over a request's real positions: the default for HierTCN), `sessionizer`
(prepare's session rule, one event at a time), `user_state`, `user_store`, `sqlite_store`,
`redis_store`, `user_store_url` (the user-interest store), `retrieval` and `faiss_retriever` (top-K),
`online_recommender` (`OnlineRecommender`), `http_schema` and `http_server` (the HTTP API on
FastAPI + uvicorn; see docs/serving.md).

The names below are imported on first use, so that a process needing only the user store (a
writer, a tool) does not load pandas, pyarrow or Keras.
"""

import importlib

_EXPORTS = {
    "OnlineRecommender": "online_recommender",
    "open_user_store": "user_store_url",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
