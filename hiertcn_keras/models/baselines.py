"""The registry of simple baselines: one name per class, in one place.

`BASELINES` maps the names that `hiertcn evaluate --model` and `hiertcn compare --models`
accept to the classes; `PARAMS` of each class lists its tunable parameters and candidate values
(a search space for `hiertcn tune`). Every class answers
`fit(train_view, n_items, n_catalogue, item_vectors=None)` and `scores(view, events)`.

| name        | class              | what it scores                                                |
|-------------|--------------------|---------------------------------------------------------------|
| `pop`       | `Pop`              | all-time training popularity                                  |
| `recentpop` | `RecentPopularity` | clicks in the last N hours before the event (everyone's)      |
| `mv`        | `MovingAverage`    | mean item vector of the user's last W items (paper baseline)  |
| `maxitem`   | `MaxItem`          | best match with one of the last W items (paper baseline)      |
| `successor` | `SuccessorCounts`  | how often c followed the previous item                        |
| `livesuccessor` | `LiveSuccessorCounts` | the same, counted live: every session before the event     |
| `sr`        | `SequentialRules`  | rules a → b within a window, 1/distance weights               |
| `iknn`      | `ItemKNN`          | session co-occurrence cosine with the previous item           |
| `sknn`      | `SessionKNN`       | cosine session kNN, query extended by the user's past sessions|
| `vsknn`     | `VSKNN`            | V-SKNN: position decay, recent-session sample                 |
"""

from __future__ import annotations

from hiertcn_keras.models.item_knn import ItemKNN
from hiertcn_keras.models.live_successor import LiveSuccessorCounts
from hiertcn_keras.models.recent_popularity import RecentPopularity
from hiertcn_keras.models.sequential_rules import SequentialRules, SuccessorCounts
from hiertcn_keras.models.simple_baselines import MaxItem, MovingAverage, Pop, SessionKNN
from hiertcn_keras.models.vsknn import VSKNN

BASELINES = {cls.name: cls for cls in (Pop, RecentPopularity, MovingAverage, MaxItem, SuccessorCounts,
                                       LiveSuccessorCounts, SequentialRules, ItemKNN, SessionKNN, VSKNN)}
NAMES = tuple(BASELINES)
# Baselines that rank in an item-vector space (learned or co-occurrence vectors).
VECTOR_BASELINES = ("mv", "maxitem")


def make_baseline(name, **params):
    """An unfitted baseline by registry name.

    Args:
        name: str. One of `NAMES`.
        **params: constructor arguments (see the class's `PARAMS` for the tunable ones).

    Returns:
        A `SimpleBaseline`.
    """
    if name not in BASELINES:
        raise ValueError(f"baseline must be one of {list(NAMES)}, got {name!r}")
    return BASELINES[name](**params)


def fit_baseline(name, dataset, item_vectors=None, **params):
    """A baseline fitted on a prepared dataset's training view.

    Args:
        name: str. One of `NAMES`.
        dataset: `PreparedDataset`.
        item_vectors: float array `[n_items, D]` or `None` (MV/MaxItem build co-occurrence vectors).
        **params: constructor arguments.

    Returns:
        The fitted baseline.
    """
    return make_baseline(name, **params).fit(dataset.view("train"), dataset.n_items, dataset.n_catalogue,
                                             item_vectors=item_vectors)


def search_space(name):
    """`{parameter: [candidate values]}` of a baseline (empty when it has nothing to tune)."""
    if name not in BASELINES:
        raise ValueError(f"baseline must be one of {list(NAMES)}, got {name!r}")
    return dict(getattr(BASELINES[name], "PARAMS", {}))


def categorical_space(name):
    """`search_space(name)` as `{parameter: ("categorical", (values...))}`, a tuner's space format."""
    return {param: ("categorical", tuple(values)) for param, values in search_space(name).items()}
