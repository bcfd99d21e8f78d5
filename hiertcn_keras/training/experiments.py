"""The experiments behind the notebooks: the paper's tables as functions returning DataFrames.

Each notebook in `notebooks/` calls these functions and shows what they return; everything a
notebook computes can be rerun from a script with the same calls. Neural runs are written as
ordinary run directories (`hiertcn train` layout) and *reused* when a run directory with the
same model configuration, training settings and data fingerprint already exists, so two
notebooks (or a notebook and `hiertcn compare`) share trained models instead of training them
twice; `train_or_load` says which happened.

The paper's numbers (REFERENCE.md §1) are here as constants so that the notebooks print them
beside ours: `PAPER_MODELS` (HierTCN vs others, XING and Pinterest), `PAPER_TRAINING_SECONDS`
and `PAPER_OBJECTIVES` (HierTCN with L2/NCE/BPR/Hinge on Pinterest).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from hiertcn_keras.training.run_dir import item_matrix_fingerprint

NEURAL = ("hiertcn", "hiergru", "hrnn", "tcn", "gru")
SIMPLE = ("mv", "maxitem", "pop", "sknn")  # the paper-table baselines; models.baselines.NAMES has all
NAMES = {"hiertcn": "HierTCN", "hiergru": "HierGRU", "hrnn": "HRNN", "tcn": "TCN", "gru": "GRU",
         "mv": "MV", "maxitem": "MaxItem", "pop": "Pop", "sknn": "SKNN", "oracle": "oracle",
         "recentpop": "RecentPop", "successor": "Successor", "sr": "SR", "iknn": "Item-kNN", "vsknn": "V-SKNN",
         "l2": "L2", "nce": "NCE", "bpr": "BPR", "hinge": "Hinge"}
METRICS = {"recall@1": "Recall@1", "recall@5": "Recall@5", "recall@10": "Recall@10", "mrr": "MRR", "mrp": "MRP ↓"}
LOWER_IS_BETTER = ("mrp",)

# REFERENCE.md §1, as presented in the paper and the talk ("–": not reported).
PAPER_MODELS = {
    "XING": {
        "recall@10": {"hiertcn": 0.139, "hiergru": 0.105, "hrnn": 0.113, "tcn": 0.108, "gru": 0.124, "mv": 0.107},
        "mrr": {"hiertcn": 0.071, "hiergru": 0.037, "hrnn": 0.040, "tcn": 0.038, "gru": 0.043},
        "mrp": {"hiertcn": 0.121, "hiergru": 0.161, "hrnn": 0.149, "tcn": 0.198, "gru": 0.141},
    },
    "Pinterest": {
        "recall@1": {"hiertcn": 0.206, "hiergru": 0.184, "hrnn": 0.174, "tcn": 0.194, "gru": 0.195,
                     "mv": 0.1658, "maxitem": 0.1487},
        "recall@5": {"hiertcn": 0.663, "hiergru": 0.639, "hrnn": 0.619, "tcn": 0.653, "gru": 0.655,
                     "mv": 0.6120, "maxitem": 0.5843},
        "recall@10": {"hiertcn": 0.855, "hiergru": 0.839, "hrnn": 0.828, "tcn": 0.850, "gru": 0.852,
                      "mv": 0.8173, "maxitem": 0.7921},
        "mrr": {"hiertcn": 0.402, "hiergru": 0.380, "hrnn": 0.366, "tcn": 0.391, "gru": 0.392,
                "mv": 0.3593, "maxitem": 0.3400},
        "mrp": {"hiertcn": 0.304, "hiergru": 0.326, "hrnn": 0.338, "tcn": 0.313, "gru": 0.311,
                "mv": 0.3484, "maxitem": 0.3724},
    },
}
PAPER_TRAINING_SECONDS = {"hiertcn": 295.3, "hiergru": 747.8, "hrnn": 693.1, "tcn": 254.0, "gru": 776.8}
PAPER_OBJECTIVES = {
    "recall@1": {"l2": 0.167, "nce": 0.192, "bpr": 0.183, "hinge": 0.201},
    "recall@5": {"l2": 0.611, "nce": 0.642, "bpr": 0.632, "hinge": 0.657},
    "recall@10": {"l2": 0.817, "nce": 0.838, "bpr": 0.832, "hinge": 0.851},
    "mrr": {"l2": 0.360, "nce": 0.386, "bpr": 0.377, "hinge": 0.396},
    "mrp": {"l2": 0.349, "nce": 0.322, "bpr": 0.331, "hinge": 0.309},
}


def default_dataset(directory, *, users=2000, items=1000, seed=7):
    """The embedded synthetic dataset (`hiertcn synth` + `hiertcn prepare` with defaults).

    Reuses `directory/log.csv` and `directory/prepared` when they were written with the same
    generator settings, so notebooks sharing a folder synthesize once.

    Args:
        directory: str or Path. Folder for `log.csv` (+ the generator sidecars) and `prepared/`.
        users: int. Synthetic users. Defaults to 2000.
        items: int. Synthetic items. Defaults to 1000.
        seed: int. Generator seed. Defaults to 7.

    Returns:
        `(log_path, prepared_dir)` as `Path`s.
    """
    from hiertcn_keras.data.loaders import load
    from hiertcn_keras.data.prepare import prepare
    from hiertcn_keras.data.synthetic import SyntheticConfig, generate, save

    directory = Path(directory)
    log_path, prepared_dir = directory / "log.csv", directory / "prepared"
    config = SyntheticConfig(n_users=users, n_items=items, seed=seed)
    meta_path = directory / "log.generator.json"
    fresh = not (log_path.is_file() and meta_path.is_file() and (prepared_dir / "stats.json").is_file())
    if not fresh:
        from dataclasses import asdict

        fresh = json.loads(meta_path.read_text())["config"] != asdict(config)
    if fresh:
        save(generate(config), log_path)
        prepare(load(log_path, "generic")).write(prepared_dir)
    return log_path, prepared_dir


def _same_run(run_dir, model_config, train_config, fingerprint, item_matrix=None):
    path = Path(run_dir) / "config.json"
    if not (path.is_file() and (Path(run_dir) / "metrics.json").is_file()):
        return False
    record = json.loads(path.read_text())
    # Settings that change what is trained; a setting newer than the recorded run (absent
    # from its record) is compared only when the record has it.
    wanted_train = {k: v for k, v in train_config.__dict__.items() if k not in ("verbose", "jit_compile")}
    core = ("epochs", "monitor", "patience", "tie_policy", "validate", "seed")
    recorded_train = {k: record["train"].get(k) for k in wanted_train if k in core or k in record["train"]}
    wanted_train = {k: wanted_train[k] for k in recorded_train}
    # JSON turns tuples into lists: compare both through JSON.
    same_model = json.loads(json.dumps(record["model"])) == json.loads(json.dumps(model_config.to_dict()))
    # A pretrained-space run is the same only on the same item vectors (runs recorded before
    # the fingerprint existed are retrained rather than trusted).
    same_items = record.get("item_matrix_sha256", "unrecorded") == item_matrix_fingerprint(item_matrix)
    if item_matrix is None and "item_matrix_sha256" not in record:
        same_items = True
    return (same_model and same_items and recorded_train == wanted_train
            and record["data"]["fingerprint"] == fingerprint)


def train_or_load(data_dir, model, run_dir, *, epochs=10, seed=0, item_matrix=None, verbose=0, jit_compile="auto",
                  **overrides):
    """Train a neural model into `run_dir`, or reuse the run already there if it is the same.

    "The same" means: the recorded model configuration, training settings (epochs, patience,
    monitor, seed, tie policy), data fingerprint and (pretrained space) item-matrix fingerprint
    all equal what this call would train.

    Args:
        data_dir: str or Path. A prepared dataset.
        model: str. One of `NEURAL`.
        run_dir: str or Path. The run directory.
        epochs: int. Maximum epochs (early stopping on validation Recall@10, patience 3).
            Defaults to 10.
        seed: int. Defaults to 0.
        item_matrix: float array `[n_items, D]` for the pretrained item space, or `None`.
        verbose: int. Keras progress while training. Defaults to 0.
        jit_compile: bool or `"auto"`. XLA (not part of "the same"). Defaults to `"auto"`.
        **overrides: `ModelConfig` fields (`item_space`, `loss`, ...).

    Returns:
        dict: `metrics` (test split), `record` (the run's config.json), `history`,
        `reused` (bool), `run_dir`.
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.recommender import build_recommender
    from hiertcn_keras.training.trainer import TrainConfig, model_config_for, train

    dataset = PreparedDataset(data_dir)
    # Overrides may come from JSON or papermill parameters, where tuples arrive as lists.
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    config = model_config_for(dataset, model=model, seed=seed, **overrides)
    # The recorded config is the resolved one (e.g. the default loss filled in): resolve ours too.
    config = build_recommender(config, item_matrix=item_matrix, item_counts=dataset.item_counts("train")).model_config
    train_config = TrainConfig(epochs=epochs, seed=seed, verbose=verbose, jit_compile=jit_compile)
    run_dir = Path(run_dir)
    reused = _same_run(run_dir, config, train_config, dataset.fingerprint, item_matrix)
    if not reused:
        train(data_dir, config, train_config, run_dir, item_matrix=item_matrix)
    return {
        "metrics": json.loads((run_dir / "metrics.json").read_text()),
        "record": json.loads((run_dir / "config.json").read_text()),
        "history": json.loads((run_dir / "history.json").read_text()),
        "reused": reused,
        "run_dir": run_dir,
    }


def fit_baseline(name, dataset, item_vectors=None):
    """A fitted simple baseline (a name of `models.baselines.BASELINES`) with its default settings.

    MV and MaxItem use `item_vectors` `[n_items, D]`, or PPMI/SVD co-occurrence vectors of the
    training events when `None` (as `hiertcn evaluate --model mv` does).
    """
    from hiertcn_keras.models import baselines

    return baselines.fit_baseline(name, dataset, item_vectors=item_vectors)


def model_table(data_dir, out_dir, models=NEURAL + SIMPLE, *, epochs=10, seed=0, oracle_log=None, verbose=0,
                log=print, epochs_by_model=None, **overrides):
    """Train/evaluate every model on the test split: the rows of the paper's main table.

    Neural models go to `out_dir/<model>` (reused when already trained the same way, see
    `train_or_load`); simple baselines are fitted on the training events. Everything is ranked
    over the full catalogue with conservative ties, per event.

    Args:
        data_dir: str or Path. A prepared dataset.
        out_dir: str or Path. Folder of the neural run directories.
        models: sequence of model names. Defaults to all nine.
        epochs: int. Defaults to 10.
        seed: int. Defaults to 0.
        oracle_log: str or Path or `None`. A `hiertcn synth` log: adds the generator's oracle row.
        verbose: int. Keras progress while training. Defaults to 0.
        log: callable or `None`. Receives one progress line per model. Defaults to `print`.
        epochs_by_model: dict or `None`. Per-model maximum epochs replacing `epochs` (e.g.
            `{"tcn": 3}` when the flat TCN cannot get the full budget). Defaults to `None`.
        **overrides: passed to `train_or_load` (`jit_compile`, `ModelConfig` fields).

    Returns:
        list of metrics dicts (one per model, `model` key set; neural ones carry `reused`,
        `epochs_run` and `train_seconds`).
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.evaluate import evaluate_baseline

    dataset = PreparedDataset(data_dir)
    results = []
    for name in models:
        if name in NEURAL:
            run = train_or_load(data_dir, name, Path(out_dir) / name, epochs=(epochs_by_model or {}).get(name, epochs),
                                seed=seed, verbose=verbose, **overrides)
            metrics = dict(run["metrics"], reused=run["reused"], epochs_run=len(run["history"].get("loss", [])),
                           train_seconds=run["record"]["train_seconds"])
            how = "reused" if run["reused"] else "trained"
            line = f"{how} {run['run_dir'].name} ({metrics['epochs_run']} epochs, {metrics['train_seconds']:.0f} s)"
        elif name in _baseline_names():
            metrics = evaluate_baseline(fit_baseline(name, dataset), dataset, "test", name=name)
            line = f"fitted {name}"
        else:
            raise ValueError(f"unknown model {name!r}; expected one of {NEURAL + SIMPLE}")
        if log:
            log(f"{line}: Recall@10 {metrics['recall@10']:.4f}, MRR {metrics['mrr']:.4f}")
        results.append(metrics)
    if oracle_log is not None:
        from hiertcn_keras.data.oracle import oracle_for_split

        oracle = oracle_for_split(oracle_log, dataset, "test")
        oracle.update(model="oracle", split="test", tie_policy="conservative", protocol=dataset.protocol)
        results.append(oracle)
    return results


def _baseline_names():
    from hiertcn_keras.models.baselines import NAMES

    return NAMES


def results_frame(results, metrics=METRICS):
    """`[metrics dict]` → DataFrame, one row per model (display names), one column per metric."""
    rows = {NAMES.get(r["model"], r["model"]): {label: r.get(key, np.nan) for key, label in metrics.items()}
            for r in results}
    return pd.DataFrame.from_dict(rows, orient="index")


def paper_layout(results, paper=PAPER_MODELS, metrics=METRICS, label="ours (synthetic)"):
    """The paper's layout: rows (source, metric), columns = models; ours beside the paper's.

    Args:
        results: list of metrics dicts (`model_table`).
        paper: `{dataset: {metric: {model: value}}}`. Defaults to `PAPER_MODELS`.
        metrics: `{key: label}` of the rows. Defaults to `METRICS`.
        label: str. Name of our rows. Defaults to `"ours (synthetic)"`.

    Returns:
        DataFrame with a `(source, metric)` row index; a model the paper did not report is NaN.
    """
    models = [r["model"] for r in results]
    rows = {}
    for key, name in metrics.items():
        rows[(label, name)] = {NAMES.get(m, m): r.get(key, np.nan) for m, r in zip(models, results)}
    for source, table in paper.items():
        for key, name in metrics.items():
            if key in table:
                rows[(f"paper ({source})", name)] = {NAMES.get(m, m): table[key].get(m, np.nan) for m in models}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["source", "metric"])
    return frame


def pairwise_orderings(ours, paper, metric):
    """Pairs of models ordered the same or the opposite way by us and by the paper.

    Args:
        ours: `{model: value}`.
        paper: `{model: value}`.
        metric: str. The metric key (`mrp` is lower-is-better).

    Returns:
        DataFrame, one row per pair of models both report: `better (paper)`, `better (ours)`,
        `agree` (bool). Ties in either never agree.
    """
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    common = [m for m in paper if m in ours and not np.isnan(ours[m])]
    rows = []
    for i, a in enumerate(common):
        for b in common[i + 1 :]:
            p = sign * (paper[a] - paper[b])
            o = sign * (ours[a] - ours[b])
            paper_best, ours_best = (a if p > 0 else b), (a if o > 0 else b)
            rows.append({"pair": f"{NAMES.get(a, a)} vs {NAMES.get(b, b)}",
                         "better (paper)": NAMES.get(paper_best, paper_best) if p else "tie",
                         "better (ours)": NAMES.get(ours_best, ours_best) if o else "tie",
                         "agree": bool(p * o > 0)})
    return pd.DataFrame(rows)


def objective_table(data_dir, item_embeddings, out_dir, losses=("l2", "nce", "bpr", "hinge"), *, epochs=10, seed=0,
                    verbose=0, log=print, **overrides):
    """HierTCN in the pretrained item space with each loss (the paper's objective-function table).

    Args:
        data_dir: str or Path. A prepared dataset.
        item_embeddings: str or Path. An embedding store (`hiertcn embed-items`) or a `.npy`.
        out_dir: str or Path. Runs go to `out_dir/<loss>` (reused when the same).
        losses: sequence of str. Defaults to `("l2", "nce", "bpr", "hinge")`.
        epochs, seed, verbose: as in `model_table`.
        log: callable or `None`. Defaults to `print`.
        **overrides: passed to `train_or_load` (`jit_compile`, `ModelConfig` fields such as
            `n_negatives`).

    Returns:
        list of metrics dicts whose `model` is the loss name.
    """
    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.item_vectors import load_item_vectors

    dataset = PreparedDataset(data_dir)
    matrix = load_item_vectors(item_embeddings, dataset.n_items, dataset.items["id"].tolist())
    results = []
    for loss in losses:
        run = train_or_load(data_dir, "hiertcn", Path(out_dir) / loss, epochs=epochs, seed=seed, item_matrix=matrix,
                            verbose=verbose, item_space="pretrained", loss=loss, **overrides)
        metrics = dict(run["metrics"], model=loss, reused=run["reused"],
                       epochs_run=len(run["history"].get("loss", [])), train_seconds=run["record"]["train_seconds"])
        if log:
            how = "reused" if run["reused"] else "trained"
            log(f"{how} hiertcn/{loss} ({metrics['epochs_run']} epochs): Recall@10 {metrics['recall@10']:.4f}, "
                f"MRR {metrics['mrr']:.4f}")
        results.append(metrics)
    return results


def _top_k(scores, k, n_catalogue):
    scores = np.array(scores, dtype=np.float32)
    scores[:, 0] = -np.inf
    scores[:, n_catalogue + 1 :] = -np.inf
    k = min(k, n_catalogue)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return top, np.take_along_axis(scores, top, axis=1)


def user_view(view, user, events=None):
    """One user's events of a view, scoring only `events` (indices into the view) or all.

    Returns:
        `(sub_view, positions)`: the user's `EventView` and the indices in it of the scored events.
    """
    from hiertcn_keras.data.dataset import EventView

    rows = np.flatnonzero(view.user == user)
    if not len(rows):
        raise ValueError(f"user index {user} has no events in the {view.split} view")
    score = np.zeros(len(view), dtype=bool)
    score[rows if events is None else np.asarray(events)] = True
    score &= view.score if events is None else True
    sub = EventView(user=view.user[rows], item=view.item[rows], timestamp=view.timestamp[rows],
                    session=view.session[rows], position=view.position[rows], score=score[rows], split=view.split)
    return sub, np.flatnonzero(sub.score)


def top_k_recommender(model, view, user, events, k=10):
    """The top-K items a trained `Recommender` predicts for some events of one user.

    The model replays the user's visible history (their earlier events in `view`) through its
    own queue batches, as in evaluation, and scores every catalogue item for each event in
    `events` (indices into `view`, all of user `user`).

    Args:
        model: `Recommender`.
        view: `EventView`.
        user: int. The user index.
        events: int array `[N]`. Indices into `view` of events of `user` (the targets).
        k: int. Defaults to 10.

    Returns:
        `(items [N, k], scores [N, k])`: item indices (best first) and their scores.
    """
    from hiertcn_keras.training.evaluate import batcher_for

    config = model.model_config
    sub, _ = user_view(view, user, events)
    table, bias = model.item_table()
    table = np.asarray(table, dtype=np.float32)
    model.reset_states()
    vectors = []
    for batch in batcher_for(config, sub).batches():
        u = np.asarray(model.predict_on_batch(batch))
        if batch["score"].any():
            # A single user sits in one queue row, in time order: row-major order is time order.
            vectors.append(u[batch["score"]])
    scores = np.concatenate(vectors) @ table.T
    if bias is not None:
        scores = scores + np.asarray(bias, dtype=np.float32)
    return _top_k(scores, k, config.n_catalogue)


def top_k_baseline(baseline, view, events, k=10):
    """The top-K items of a fitted simple baseline for some events of a view.

    Args:
        baseline: a fitted `simple_baselines` object.
        view: `EventView`.
        events: int array `[N]`. Indices into `view`.
        k: int. Defaults to 10.

    Returns:
        `(items [N, k], scores [N, k])`.
    """
    return _top_k(baseline.scores(view, np.asarray(events)), k, baseline.n_catalogue)


def nearest_items(vectors, queries, k=5, n_catalogue=None):
    """Cosine nearest neighbours of some items, the query itself excluded.

    Args:
        vectors: float array `[n_items, D]` (row 0 = padding, never returned).
        queries: int array `[Q]`. Item indices.
        k: int. Defaults to 5.
        n_catalogue: int or `None`. Only items `1..n_catalogue` are candidates (default: all).

    Returns:
        `(items [Q, k], cosine [Q, k])`.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    queries = np.asarray(queries)
    scores = unit[queries] @ unit.T
    scores[np.arange(len(queries)), queries] = -np.inf
    return _top_k(scores, k, (n_catalogue or len(vectors) - 1))


def topic_purity(vectors, topics, k=10, n_catalogue=None):
    """Share of each item's k cosine nearest neighbours that have its true topic.

    Args:
        vectors: float array `[n_items, D]` (row 0 = padding).
        topics: int array `[n_items]`. True topic per item index (row 0 ignored).
        k: int. Defaults to 10.
        n_catalogue: int or `None`. Items `1..n_catalogue` are queried and candidates.

    Returns:
        float in [0, 1]. A random space gives about the share of the most common topics
        (1 / n_topics for balanced topics).
    """
    n = n_catalogue or len(vectors) - 1
    items = np.arange(1, n + 1)
    neighbours, _ = nearest_items(vectors, items, k, n)
    topics = np.asarray(topics)
    return float((topics[neighbours] == topics[items][:, None]).mean())


def item_topics(log_path, dataset):
    """The generator's true topic of every item index of a prepared synthetic dataset.

    Args:
        log_path: str or Path. The `hiertcn synth` log.
        dataset: `PreparedDataset` prepared from it.

    Returns:
        int array `[n_items]`; -1 at index 0.
    """
    from hiertcn_keras.data.synthetic import load_generator

    generator = load_generator(log_path)
    ids = dataset.items["id"].to_numpy().astype(np.int64)
    return np.concatenate([[-1], generator.item_topic[ids]])


def item_store(data_dir, store_dir, config=None, *, verbose=0):
    """Train the item model into an embedding store, or reuse the store already there.

    The store is reused when its manifest records the same `ItemModelConfig` and the same data
    fingerprint (as `hiertcn embed-items` writes them).

    Args:
        data_dir: str or Path. A prepared dataset.
        store_dir: str or Path. The store folder.
        config: `ItemModelConfig` or `None` (the defaults of `hiertcn embed-items`).
        verbose: int. Keras progress. Defaults to 0.

    Returns:
        dict: `matrix` float32 `[n_items, D]`, `report` (the training record), `reused` (bool).
    """
    import dataclasses

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.models.item_vectors import load_item_vectors
    from hiertcn_keras.training.item_training import ItemModelConfig, embed_items

    config = config or ItemModelConfig()
    dataset = PreparedDataset(data_dir)
    manifest = Path(store_dir) / "manifest.json"
    reused = False
    if manifest.is_file():
        report = json.loads(manifest.read_text()).get("config") or {}
        wanted = json.loads(json.dumps(dataclasses.asdict(config)))
        reused = report.get("config") == wanted and report.get("data_fingerprint") == dataset.fingerprint
    if not reused:
        embed_items(data_dir, store_dir, config, verbose=verbose)
        report = json.loads(manifest.read_text())["config"]
    matrix = load_item_vectors(store_dir, dataset.n_items, dataset.items["id"].tolist())
    return {"matrix": matrix, "report": report, "reused": reused}
