"""Serving: the item embedding store (and, later, user-interest store and online recommender)."""

from hiertcn_keras.serving.embedding_store import (
    FORMAT_VERSION, EmbeddingStore, save_npy_as_store, write_store,
)

__all__ = ["FORMAT_VERSION", "EmbeddingStore", "save_npy_as_store", "write_store"]
