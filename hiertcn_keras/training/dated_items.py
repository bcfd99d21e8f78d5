"""Dated item embeddings: re-embed the catalogue as of a time T with a trained item model.

The daily (or hourly) job of a recommender whose catalogue changes: rebuild the co-interaction
graph from every event before T (whatever its split), recompute the PinSage importance
neighbourhoods, and run the *same* trained `ItemGraphEncoder` over them — no retraining. An
item the model never trained on (its learned id vector is noise) is embedded from its graph
neighbourhood alone: its id vector is zeroed, so only its neighbours' features (and its content
features, if the model has them) speak for it. Items not seen before T get a zero row and are
no candidates of a store stamped T.

Shape legend: I items (the dataset vocabulary, index 0 = padding), D embedding size, T
neighbours per item.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from hiertcn_keras.artifacts.store_directory import UNTIL_KEY, format_time
from hiertcn_keras.data.dataset import EventView
from hiertcn_keras.graph import cointeraction_graph, graph_stats, importance_neighbourhoods
from hiertcn_keras.models.item_model import embed_all


def events_before(dataset, until):
    """Every event of a prepared dataset strictly before `until`, whatever its split.

    Args:
        dataset: `PreparedDataset`.
        until: float. Unix seconds.

    Returns:
        `EventView` (split `"until"`, every event flagged as scored), sorted by (user, time).
    """
    ev = dataset.events
    keep = ev["timestamp"] < until
    return EventView(user=ev["user"][keep], item=ev["item"][keep], timestamp=ev["timestamp"][keep],
                     session=ev["session"][keep], position=ev["position"][keep],
                     score=np.ones(int(keep.sum()), dtype=bool), split="until")


def seen_mask(view, n_items):
    """bool `[I]`: items with at least one event in `view` (index 0 never)."""
    seen = np.zeros(n_items, dtype=bool)
    seen[view.item] = True
    seen[0] = False
    return seen


class ItemRefresher:
    """Re-embeds a catalogue over newer graphs with one trained item model.

    Args:
        encoder: a trained `ItemGraphEncoder` (e.g. `keras.models.load_model(path).encoder`). It
            is modified in place: the ids it never trained on get a zero id vector once, and each
            `embed` replaces its neighbour tables.
        window, n_walks, walk_length, seed: graph and random-walk settings, as in
            `ItemModelConfig`. The number of neighbours T is the encoder's.

    Attributes:
        trained: bool `[I]`, the items that had graph neighbours when the model was trained (and
            so a trained id vector).
    """

    def __init__(self, encoder, *, window=5, n_walks=50, walk_length=3, seed=0):
        self.encoder = encoder
        self.window, self.n_walks, self.walk_length, self.seed = int(window), int(n_walks), int(walk_length), int(seed)
        weights = np.asarray(encoder.neighbour_weights)
        self.trained = weights.sum(axis=1) > 0
        self.trained[0] = False
        table = np.array(encoder.ids.table)
        table[~self.trained] = 0.0
        encoder.ids.table.assign(table)

    @classmethod
    def from_config(cls, encoder, config):
        """A refresher with the graph settings of an `ItemModelConfig` (or its dict)."""
        get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
        return cls(encoder, window=get("window", 5), n_walks=get("n_walks", 50),
                   walk_length=get("walk_length", 3), seed=get("seed", 0))

    def embed(self, view, *, batch_size=4096):
        """Embed every item seen in `view` over the graph of `view`'s events.

        Args:
            view: `EventView`. The events the graph is built from (e.g. `events_before`).
            batch_size: int. Items per forward pass. Defaults to 4096.

        Returns:
            `(matrix float32 [I, D], report dict)`; rows of items not seen in `view` are zero.
        """
        n_items = self.encoder.n_items
        started = time.perf_counter()
        graph = cointeraction_graph(view, n_items, window=self.window)
        neighbours, weights = importance_neighbourhoods(graph, n_walks=self.n_walks, walk_length=self.walk_length,
                                                        top_t=self.encoder.n_neighbours, seed=self.seed)
        graph_seconds = time.perf_counter() - started
        self.encoder.neighbours.assign(np.asarray(neighbours, np.int32))
        self.encoder.neighbour_weights.assign(np.asarray(weights, np.float32))
        started = time.perf_counter()
        matrix = embed_all(self.encoder, n_items, batch_size)
        seen = seen_mask(view, n_items)
        matrix[~seen] = 0.0
        report = {
            "graph": graph_stats(graph),
            "graph_seconds": round(graph_seconds, 3),
            "embed_seconds": round(time.perf_counter() - started, 3),
            "n_seen": int(seen.sum()),
            "n_new": int((seen & ~self.trained).sum()),
            "n_events": int(len(view)),
        }
        return matrix, report


def embed_items_until(dataset, until, *, model_path=None, config=None, content=None, model_out=None, verbose=1,
                      batch_size=4096):
    """Embed a prepared dataset's catalogue as of `until`: the graph of the events before it.

    With `model_path`, a saved item model re-embeds the newer graph without training (the daily
    job); without it, an item model is first trained on the events before `until`.

    Args:
        dataset: `PreparedDataset`.
        until: float. Unix seconds: only the events strictly before it are used.
        model_path: str, Path or `None`. An item model saved by `embed-items --model-out`,
            trained on this dataset's vocabulary.
        config: `ItemModelConfig` or `None` (defaults): training and graph settings.
        content: float array `[I, C]` of content features for training, or `None`.
        model_out: str, Path or `None`. Save the model trained here (`.keras`).
        verbose: int. Keras progress when training. Defaults to 1.
        batch_size: int. Items per forward pass. Defaults to 4096.

    Returns:
        `(matrix float32 [I, D], report dict)`; the report holds `until`, the store's stamp.
    """
    import hiertcn_keras.models  # noqa: F401  (registers the custom objects)
    from hiertcn_keras.training.item_config import ItemModelConfig
    from hiertcn_keras.training.item_training import save_item_model, train_item_model

    config = config or ItemModelConfig()
    view = events_before(dataset, until)
    if len(view) == 0:
        raise ValueError(f"{dataset.path}: no event before {format_time(until)}")
    report = {}
    if model_path is None:
        model, report = train_item_model(dataset.path, config, content=content, verbose=verbose, view=view)
        if model_out is not None:
            report["model_fingerprint"] = save_item_model(model, model_out)
    else:
        model = keras.models.load_model(model_path)
        if model.encoder.n_items != dataset.n_items:
            raise ValueError(f"{model_path} embeds {model.encoder.n_items} items but {dataset.path} has "
                             f"{dataset.n_items}; was it trained on this dataset?")
        report["model_file"] = str(model_path)
    refresher = ItemRefresher.from_config(model.encoder, config)
    matrix, embed_report = refresher.embed(view, batch_size=batch_size)
    report.update(embed_report)
    report.update({UNTIL_KEY: float(until), "until_iso": format_time(until), "data_fingerprint": dataset.fingerprint})
    return matrix, report
