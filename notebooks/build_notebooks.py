"""Writes the six notebooks of `notebooks/` from the cell sources below (outputs empty).

The notebooks are generated rather than hand-edited so that their code stays reviewable as
plain Python; the committed copies carry the outputs of a papermill run (see notebooks/README.md).

    python notebooks/build_notebooks.py                  # (re)write every notebook, outputs cleared
    python notebooks/build_notebooks.py --conclusions    # only refresh the closing paragraphs of the
                                                         # executed notebooks (keeps their outputs)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

SETUP_IMPORTS = '''\
import logging, os, sys, warnings
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
from pathlib import Path


def _import_tensorflow_quietly():
    """TensorFlow's C++ start-up lines go straight to file descriptor 2: mute them once."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf
        tf.constant(0) + 1
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


_import_tensorflow_quietly()

import keras
import numpy as np
import pandas as pd
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image, display

from hiertcn_keras.data.dataset import PreparedDataset
from hiertcn_keras.training import experiments as ex

pd.set_option("display.precision", 4)
pd.set_option("display.width", 140)


def show_png(fig, name):
    """Save a figure next to the runs and show it as one inline PNG (small, no widget state)."""
    path = WORK / "figures" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    display(Image(filename=str(path)))


def plot_learning_curves(histories, name, metric="val_recall@10"):
    """Training loss and a validation metric per epoch, one line per model (from `History.history`)."""
    with_metric = any(metric in h for h in histories.values())
    fig, axes = plt.subplots(1, 2 if with_metric else 1, figsize=(11 if with_metric else 5.5, 3.4), squeeze=False)
    for label, h in histories.items():
        epochs = np.arange(1, len(h["loss"]) + 1)
        axes[0, 0].plot(epochs, h["loss"], marker="o", label=label)
        if with_metric and metric in h:
            axes[0, 1].plot(epochs, h[metric], marker="o", label=label)
    axes[0, 0].set(title="training loss", xlabel="epoch")
    if with_metric:
        axes[0, 1].set(title=f"{metric} (validation split, full catalogue)", xlabel="epoch")
    for ax in axes[0]:
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    print("learning curves: " + ", ".join(f"{label} {len(h['loss'])} epochs" for label, h in histories.items()))
    show_png(fig, name)
'''

SETUP_DATA = '''\
WORK = Path(WORK)
if DATA is None:  # the embedded synthetic default: `hiertcn synth` + `hiertcn prepare`
    LOG, DATA_DIR = ex.default_dataset(WORK, users=USERS, items=ITEMS, seed=SEED)
else:
    LOG, DATA_DIR = None, Path(DATA)
dataset = PreparedDataset(DATA_DIR)
print(f"{dataset.stats['n_events']:,} events, {dataset.n_users:,} users, {dataset.n_items - 1:,} items "
      f"(catalogue {dataset.n_catalogue:,}), {dataset.stats['n_sessions']:,} sessions, protocol {dataset.protocol}")
'''

SETUP = SETUP_IMPORTS + SETUP_DATA

PARAMS_COMMON = '''\
# Parameters (papermill: `-p NAME VALUE`). DATA = None uses the embedded synthetic default;
# otherwise the folder written by `hiertcn prepare` (XING, Globo.com or any generic log).
DATA = None
USERS = 2000                          # synthetic default (ignored when DATA is set)
ITEMS = 1000
SEED = 7
WORK = "../runs/notebooks/default"    # data, runs and figures, shared by the notebooks
'''

SUITE_TABLE = '''\
import json

import hiertcn_keras

SUITE = Path(hiertcn_keras.__file__).resolve().parents[1] / "docs" / "results" / "accuracy_suite.json"


def mean_std(row, key):
    if not isinstance(row.get(key), float):
        return "–"
    std = row.get(f"{key}_std")
    return f"{row[key]:.4f}" + (f" ± {std:.4f}" if std else "")


if SUITE.is_file():
    suite = json.loads(SUITE.read_text())["datasets"]
    for entry in suite:
        v = entry["verdict"]
        share = "" if v.get("oracle_share") is None else f", {v['oracle_share']:.0%} of the oracle's Recall@10"
        print(f"{entry['dataset']} ({entry['users']:,} users, {entry['events']:,} events): HierTCN {v['overall']}"
              + "".join(f"; {m}: " + ", ".join(f"{c['outcome']} vs {c['against']} ({c['gap']:+.4f})" for c in v[m])
                        for m in ("recall@10", "mrr")) + share)
    suite_table = pd.DataFrame([
        {"dataset": e["dataset"], "model": r["model"], "Recall@10": mean_std(r, "recall@10"), "MRR": mean_std(r, "mrr"),
         "seeds": "det." if r.get("deterministic") else r.get("n_seeds", "–"),
         "coverage": "–" if r.get("coverage") is None else f"{r['coverage']:.1%}",
         "epochs (best)": " ".join(f"{a}({b})" for a, b in zip(r.get("epochs", []), r.get("best_epoch", []))) or "–"}
        for e in suite for r in e["rows"]])
    display(suite_table)
else:
    print(f"{SUITE} is not here (an installed package without the repository's docs/)")
'''

SAMPLE_BATCH = '''\
from hiertcn_keras.training.evaluate import batcher_for
from hiertcn_keras.training.trainer import model_config_for

config = model_config_for(dataset, model="hiertcn", **MODEL_OVERRIDES)
batch = next(batcher_for(config, dataset.view("train")).batches())
print(pd.DataFrame({k: [tuple(v.shape), str(v.dtype)] for k, v in batch.items()}, index=["shape", "dtype"]).T)
row, slots = 0, min(3, batch["items"].shape[1])
first = pd.DataFrame(batch["items"][row, :slots], index=[f"session slot {s}" for s in range(slots)])
print(f"\\nrow {row}, first {slots} session slots: target item indices per step (0 = padding)")
print(first.loc[:, (first != 0).any()].to_string())
print("\\nuser_start:", batch["user_start"][row, :slots], " gap (s):", batch["gap"][row, :slots])
'''

# The steps notebook 1 shows one by one, as one function (notebooks 1, 3, 4 and 6 call it).
FIT_FUNCTION = '''\
from hiertcn_keras.models import build_recommender
from hiertcn_keras.training.evaluate import evaluate_recommender
from hiertcn_keras.training.experiments.fitted import fit_settings, load_fitted, save_fitted
from hiertcn_keras.training.keras_fit import fit_callbacks, training_data
from hiertcn_keras.training.optimizers import make_optimizer
from hiertcn_keras.training.train_config import TrainConfig
from hiertcn_keras.training.trainer import model_config_for


def fit_model(name, epochs, *, item_matrix=None, save_to=None, reuse=False, verbose=0, **fields):
    """Build, compile and `fit` one model as `hiertcn train` does (seed 0), then evaluate it.

    With `save_to`, the trained model and its history are saved there; with `reuse=True` too, a
    model already saved there with exactly these settings (configuration, epochs, seed, data
    and item vectors) is loaded instead of trained.

    Returns:
        (model, history dict, test metrics dict, reused bool)
    """
    keras.utils.set_random_seed(0)
    config = model_config_for(dataset, model=name, **fields)
    model = build_recommender(config, item_matrix=item_matrix, item_counts=dataset.item_counts("train"))
    settings = fit_settings(model.model_config, dataset, epochs=epochs, item_matrix=item_matrix)
    found = load_fitted(save_to, settings) if reuse and save_to is not None else None
    if found is not None:
        model, record = found
        return model, record["history"], record["metrics"], True
    data, sample = training_data(dataset, model.model_config, seed=0)
    model(sample)
    model.compile(optimizer=make_optimizer(model.model_config), jit_compile=JIT)
    history = model.fit(data, epochs=epochs, shuffle=False, verbose=verbose,
                        callbacks=fit_callbacks(dataset, TrainConfig(epochs=epochs)))
    metrics = evaluate_recommender(model, dataset, "test")
    if save_to is not None:
        save_fitted(save_to, model, settings, history.history, metrics)
    return model, history.history, metrics, False
'''

FIT_FUNCTION_INTRO = '''\
## Training, the way notebook 1 shows it step by step

`fit_model` builds a model with `build_recommender`, compiles it with Adam and trains it with
Keras `fit` on the tf.data pipeline of the queue batcher, with full-catalogue validation every
epoch, a plateau learning-rate schedule and early stopping on validation Recall@10 (best weights
restored): exactly what `hiertcn train` does with the same seed (a test checks they end with the
same weights). Notebook 1 walks through these steps one cell at a time.'''

# --------------------------------------------------------------------------------------------
NB1 = [
    ("md", '''\
# HierTCN vs others: the paper's main table

**What this reproduces.** Table 2 of You et al., *Hierarchical Temporal Convolutional Networks
for Dynamic Recommender Systems* (WWW 2019): HierTCN against HierGRU, HRNN, a flat TCN, a flat
GRU, a moving average of item vectors (MV) and MaxItem, by Recall@1/5/10, MRR and MRP (mean
rank percentile, lower is better). We add two honest baselines the paper does not have:
popularity (Pop) and a session-kNN (SKNN).

**How.** This notebook is also the tutorial of the Python API: it builds HierTCN with
`build_recommender`, prints its `summary()`, trains it with Keras `fit` on the tf.data pipeline,
plots its learning curve and evaluates it; the other neural models go through the same steps.
Every model is trained and evaluated on the same prepared dataset with the same protocol: a
temporal split (the last 10% of time is the test period; each test user's whole earlier history
builds the state), every target ranked against the **full catalogue**, ties counted against the
model, metrics averaged per event. Neural models use the package defaults
([docs/tuning.md](../docs/tuning.md)), up to `EPOCHS` epochs with early stopping on validation
Recall@10 (patience 3, best weights restored), seed 0, **no tuning**. The paper's numbers are
printed beside ours for orientation only: their datasets (XING, Pinterest) are not ours, and
Pinterest ranks the engaged pin among the ~20 pins of its feed view, not the whole catalogue.

**Read this notebook's table as a short run, not as our result.** The executed copy ran with
the parameters injected after its parameters cell (300 synthetic users, 200 items, at most 5 epochs, batch
32, one seed, no tuning): it shows the API and the protocol. The measured comparison (every
model with the same tuning budget, three seeds, converged: our generator, the drift
generator and the Globo.com news log, each dataset saying whether HierTCN wins, ties or loses
and by how much) is shown at the end of this notebook, read from the repository's
`docs/results/accuracy_suite.json`, and explained in [docs/accuracy.md](../docs/accuracy.md).'''),
    ("params", PARAMS_COMMON + '''\
EPOCHS = 10
MODELS = ["hiertcn", "hiergru", "hrnn", "tcn", "gru", "mv", "maxitem", "pop", "sknn"]
JIT = "auto"                          # XLA on the TensorFlow backend
MODEL_OVERRIDES = {}                  # ModelConfig fields, e.g. dict(batch_size=32); empty: the package defaults
EPOCHS_BY_MODEL = {}                  # per-model epochs replacing EPOCHS, e.g. dict(tcn=3); empty: EPOCHS for all
'''),
    ("md", "## Setup and data"),
    ("code", SETUP),
    ("md", '''\
The setting this notebook's numbers come from (printed from the parameters, so that a table
is never read as more than it is):'''),
    ("code", '''\
source = f"the embedded synthetic default ({USERS} users, {ITEMS} items, generator seed {SEED})" if DATA is None else DATA
print(f"data: {source}")
print(f"neural models: at most {EPOCHS} epochs" + (f" ({EPOCHS_BY_MODEL})" if EPOCHS_BY_MODEL else "")
      + ", early stopping on validation Recall@10 (patience 3), one seed (0), no tuning; ModelConfig "
      + (f"defaults with {MODEL_OVERRIDES}" if MODEL_OVERRIDES else "defaults"))
'''),
    ("md", '''\
A sample training batch of the queue batcher (B rows × S session slots × L steps): each row
holds one user's sessions in order; `inputs` are the targets shifted by one step inside each
session with a zero start token; `user_start` marks where a new user begins in the row (the
carried high-level state is reset there).'''),
    ("code", SAMPLE_BATCH),
    ("md", '''\
## Build the model

`model_config_for` fills the dataset's sizes (items, catalogue, longest session) into a frozen
`ModelConfig`; every other field keeps its default unless `MODEL_OVERRIDES` names it.
`build_recommender` returns a `Recommender`, a `keras.Model` around the HierTCN user model: a
causal TCN over the steps of each session (short-term interest) feeding a GRU over the sessions
(long-term interest, its state carried from batch to batch per queue row), and an output
item table ranked by inner product with the user embedding. Calling it once on an all-padding
batch creates its weights without changing any state.'''),
    ("code", '''\
from hiertcn_keras.models import build_recommender
from hiertcn_keras.training.keras_fit import fit_callbacks, training_data
from hiertcn_keras.training.optimizers import make_optimizer
from hiertcn_keras.training.train_config import TrainConfig

keras.utils.set_random_seed(0)
config = model_config_for(dataset, model="hiertcn", **MODEL_OVERRIDES)
model = build_recommender(config, item_counts=dataset.item_counts("train"))
train_data, sample = training_data(dataset, model.model_config, seed=0)
model(sample)
model.summary()
model.user_model.summary()
'''),
    ("md", '''\
## Train it with `fit`

`training_data` is the training split as a `tf.data.Dataset` of queue batches, reshuffled by
user every epoch (so `fit` must not shuffle: each row's state runs from batch to batch).
`fit_callbacks` adds full-catalogue Recall@k / MRR on the validation split at the end of every
epoch (`val_recall@10`, ... in the logs), the plateau learning-rate schedule and early stopping
with the best weights restored. What to look at: the loss should fall every epoch and
`val_recall@10` rise, then flatten; early stopping ends the run three epochs after its best.'''),
    ("code", '''\
hiertcn_epochs = EPOCHS_BY_MODEL.get("hiertcn", EPOCHS)
model.compile(optimizer=make_optimizer(model.model_config), jit_compile=JIT)
history = model.fit(train_data, epochs=hiertcn_epochs, shuffle=False, verbose=2,
                    callbacks=fit_callbacks(dataset, TrainConfig(epochs=hiertcn_epochs)))
'''),
    ("md", "## The learning curve"),
    ("code", '''\
curves = {"HierTCN": history.history}
plot_learning_curves(curves, "01_hiertcn_curve.png")
'''),
    ("md", '''\
## Evaluate on the test split

`evaluate_recommender` replays each test user's whole history through the model (state reset
exactly where a user starts) and ranks every test target against the full catalogue. The model
is saved (`model.save`, a `.keras` file that `keras.saving.load_model` opens) for notebook 4.'''),
    ("code", '''\
from hiertcn_keras.training.evaluate import evaluate_baseline, evaluate_recommender
from hiertcn_keras.training.experiments.fitted import fit_settings, save_fitted

test_metrics = evaluate_recommender(model, dataset, "test")
save_fitted(WORK / "models" / "hiertcn", model, fit_settings(model.model_config, dataset, epochs=hiertcn_epochs),
            history.history, test_metrics)
print({k: round(v, 4) for k, v in test_metrics.items() if isinstance(v, float)})
'''),
    ("md", '''\
## The other models, the same steps

The same build → compile → fit → evaluate, as a function, for the other neural models; the
simple baselines are fitted on the training events (MV and MaxItem average PPMI/SVD
co-occurrence vectors of the training events).'''),
    ("code", FIT_FUNCTION),
    ("code", '''\
results = []
for name in MODELS:
    if name == "hiertcn":
        metrics, how = dict(test_metrics, model="hiertcn"), f"trained above ({len(history.history['loss'])} epochs)"
    elif name in ex.NEURAL:
        _, curve, metrics, _ = fit_model(name, EPOCHS_BY_MODEL.get(name, EPOCHS), save_to=WORK / "models" / name,
                                         **MODEL_OVERRIDES)
        curves[ex.NAMES[name]] = curve
        metrics, how = dict(metrics, model=name), f"trained ({len(curve['loss'])} epochs)"
    else:
        metrics, how = evaluate_baseline(ex.fit_baseline(name, dataset), dataset, "test", name=name), "fitted"
    results.append(metrics)
    print(f"{ex.NAMES[name]:<8} {how}: Recall@10 {metrics['recall@10']:.4f}, MRR {metrics['mrr']:.4f}")
if LOG is not None:  # the generator knows each click's true distribution: an upper bound
    from hiertcn_keras.data.oracle import oracle_for_split

    results.append(dict(oracle_for_split(LOG, dataset, "test"), model="oracle"))
'''),
    ("code", '''\
plot_learning_curves(curves, "01_curves.png")
'''),
    ("md", "## The table, laid out like the paper's (ours above, the paper's below)"),
    ("code", '''\
table = ex.paper_layout(results)
table.round(4)
'''),
    ("md", '''\
Our full result table (with Recall@20 and NDCG@10; `oracle` is the generator's own next-click
distribution, an upper bound no model can beat on average):'''),
    ("code", '''\
ours = ex.results_frame(results, {**ex.METRICS, "recall@20": "Recall@20", "ndcg@10": "NDCG@10", "n_events": "events"})
ours["epochs"] = [len(curves[ex.NAMES[r["model"]]]["loss"]) if ex.NAMES.get(r["model"]) in curves else np.nan
                  for r in results]
ours.round(4)
'''),
    ("md", '''\
## Do we reproduce the paper's orderings?

For each pair of models that both we and the paper report, does the same model win? (Pinterest
has all seven models; XING has five for MRR and MRP.)'''),
    ("code", '''\
by_model = {r["model"]: r for r in results}

def best(values, metric):
    return ex.NAMES[(min if metric in ex.LOWER_IS_BETTER else max)(values, key=values.get)]

summary = []
for source, paper in ex.PAPER_MODELS.items():
    for metric, values in paper.items():
        common = [m for m in values if m in by_model]
        pairs = ex.pairwise_orderings({m: by_model[m][metric] for m in common}, values, metric)
        if len(pairs):
            summary.append({"paper table": source, "metric": ex.METRICS[metric], "model pairs": len(pairs),
                            "same order": int(pairs["agree"].sum()),
                            "best (paper)": best({m: values[m] for m in common}, metric),
                            "best (ours)": best({m: by_model[m][metric] for m in common}, metric)})
pd.DataFrame(summary)
'''),
    ("code", '''\
pairs = ex.pairwise_orderings({m: r["recall@10"] for m, r in by_model.items()}, ex.PAPER_MODELS["Pinterest"]["recall@10"], "recall@10")
pairs[~pairs["agree"]]   # the pairs whose Recall@10 order differs from the paper's Pinterest table
'''),
    ("md", "## A plot"),
    ("code", '''\
frame = ex.results_frame([r for r in results if r["model"] != "oracle"])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, col in zip(axes, ["Recall@10", "MRR"]):
    frame[col].plot.bar(ax=ax, color=["tab:red" if i == "HierTCN" else "tab:blue" for i in frame.index])
    if "oracle" in by_model:
        ax.axhline(by_model["oracle"][col.lower()], color="k", ls="--", lw=1, label="oracle (generator)")
        ax.legend(loc="upper right")
    ax.set_title(f"{col}, test split, full catalogue")
    ax.tick_params(axis="x", rotation=45)
fig.tight_layout()
show_png(fig, "01_models.png")
'''),
    ("md", '''\
## The measured result: the tuned, multi-seed suite

The table above is this notebook's short run. The comparison the project reports is the accuracy
suite (`benchmarks/bench_accuracy.py --setting tuned`, [docs/accuracy.md](../docs/accuracy.md)):
every model tuned on the validation split with the same budget of trials, HierTCN and GRU4Rec
retrained with three seeds (mean ± standard deviation), early-stopped, on our generator, the drift
generator and the Globo.com news log. It is read here from the repository's machine-readable copy,
`docs/results/accuracy_suite.json`; nothing is retrained. The verdict compares HierTCN with the
best simple baseline and every other neural model on Recall@10 and MRR, and counts a gap only
beyond two standard deviations of the difference.'''),
    ("code", SUITE_TABLE),
    ("md", "## What agrees with the paper and what does not", "conclusion"),
]

# --------------------------------------------------------------------------------------------
NB2 = [
    ("md", '''\
# Training time and data memory

**What this reproduces.** The paper's training-time table (Pinterest, one GPU): HierTCN
295.3 s, HierGRU 747.8 s, HRNN 693.1 s, TCN 254.0 s, GRU 776.8 s, i.e. HierGRU takes 2.53× as
long as HierTCN ("2.5× faster than RNN-based models"), and the claim that HierTCN needs 90% less
data memory than TCN-based models (a flat TCN holds the whole history, HierTCN the current
session plus a small state).

**How.** First HierTCN is built and trained with `fit` for `EPOCHS` epochs, as in notebook 1:
its `History` holds the seconds and training events per second of every epoch (validation
excluded), and the learning curve. Then `hiertcn_keras.training.experiments.training_speed`
trains every model **side by side in one run** on the same data with its real batches (XLA on
the TensorFlow backend), excludes compilation (`WARMUP` untimed steps), and reports
steady-state *scored events per second*, the implied seconds per epoch and the ratio of each
model's time to HierTCN's. Ratios measured in one run are robust to a busy machine; absolute
seconds are not. The data memory comes from `experiments.memory_report`: bytes the batches hold
per real (non-padding) event, hierarchical `[B, S, L]` batches against flat batches of the same
users. (`benchmarks/bench_training.py`, `bench_evaluation.py` and `bench_batcher.py` call the same
functions from the command line.)'''),
    ("params", PARAMS_COMMON + '''\
EPOCHS = 2                            # epochs of the HierTCN `fit` timed through its History
MODELS = ["hiertcn", "hiergru", "hrnn", "tcn", "gru"]   # timed side by side (HierTCN first: the reference)
BASELINES = ["mv", "maxitem", "pop", "sknn"]          # simple baselines in the evaluation timing
STEPS, WARMUP = 20, 3                 # timed and untimed training steps per model (side by side)
EVAL_REPEATS = 2                      # timed evaluation passes per model (best reported)
JIT = True
MODEL_OVERRIDES = {}                  # ModelConfig fields; empty: the package defaults
'''),
    ("md", "## Setup and data"),
    ("code", SETUP),
    ("code", SAMPLE_BATCH),
    ("md", '''\
## HierTCN, built and trained with `fit`

The steps of notebook 1: `build_recommender`, `summary()`, `compile`, `fit` on the tf.data
pipeline with the validation and early-stopping callbacks. `fit_callbacks` also times every
epoch: `epoch_seconds` and `events_per_second` (training events) land in the `History`.'''),
    ("code", '''\
from hiertcn_keras.models import build_recommender
from hiertcn_keras.training.keras_fit import fit_callbacks, training_data
from hiertcn_keras.training.optimizers import make_optimizer
from hiertcn_keras.training.train_config import TrainConfig

keras.utils.set_random_seed(0)
model = build_recommender(model_config_for(dataset, model="hiertcn", **MODEL_OVERRIDES),
                          item_counts=dataset.item_counts("train"))
train_data, sample = training_data(dataset, model.model_config, seed=0)
model(sample)
model.summary()
model.compile(optimizer=make_optimizer(model.model_config), jit_compile=JIT)
history = model.fit(train_data, epochs=EPOCHS, shuffle=False, verbose=2,
                    callbacks=fit_callbacks(dataset, TrainConfig(epochs=EPOCHS)))
'''),
    ("code", '''\
plot_learning_curves({"HierTCN": history.history}, "02_hiertcn_curve.png")
pd.DataFrame({"seconds": history.history["epoch_seconds"],
              "training events/s": history.history["events_per_second"],
              "validation s": history.history["val_seconds"]},
             index=pd.Index(range(1, len(history.history["loss"]) + 1), name="epoch")).round(1)
'''),
    ("md", '''\
The first epoch includes tracing and (with XLA) compiling the training step; the later ones
are the steady state. The side-by-side measurement below excludes compilation for every model.

## Training speed, side by side

Two item spaces: *learned* (item ids with a full-softmax output over the catalogue, the
official XING setup) and *pretrained* (frozen item vectors, hinge loss with 20 sampled
negatives, the web-scale setup behind the paper's timing table).'''),
    ("code", '''\
speed = {}
for space in ("learned", "pretrained"):
    speed[space] = ex.training_speed(dataset, MODELS, steps=STEPS, warmup=WARMUP, jit=JIT, item_space=space, **MODEL_OVERRIDES)
rows = []
for r_learned, r_pre in zip(speed["learned"], speed["pretrained"]):
    m = r_learned["model"]
    rows.append({"model": ex.NAMES[m],
                 "learned: events/s": r_learned["events_per_second"], "learned: epoch s": r_learned["epoch_seconds"],
                 "learned: × HierTCN": r_learned["time_ratio_to_hiertcn"],
                 "pretrained: events/s": r_pre["events_per_second"], "pretrained: epoch s": r_pre["epoch_seconds"],
                 "pretrained: × HierTCN": r_pre["time_ratio_to_hiertcn"],
                 "paper: seconds": ex.PAPER_TRAINING_SECONDS[m],
                 "paper: × HierTCN": ex.PAPER_TRAINING_SECONDS[m] / ex.PAPER_TRAINING_SECONDS["hiertcn"],
                 "batch bytes": r_learned["batch_bytes"], "params": r_learned["params"]})
speed_table = pd.DataFrame(rows).set_index("model")
print(f"1-minute load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
speed_table.round(2)
'''),
    ("md", '''\
## Evaluation speed, side by side

`experiments.evaluation_speed`: one full-catalogue evaluation pass of the test split per model
(untrained neural models: speed does not depend on the weights), best of `EVAL_REPEATS`.'''),
    ("code", '''\
evaluation = ex.evaluation_speed(dataset, MODELS + BASELINES, repeats=EVAL_REPEATS, jit=JIT, **MODEL_OVERRIDES)
pd.DataFrame([{"model": ex.NAMES.get(r["model"], r["model"]), "events/s": r["events_per_second"], "pass s": r["pass_seconds"],
               "× HierTCN": r["time_ratio_to_hiertcn"]} for r in evaluation]).set_index("model").round(2)
'''),
    ("md", '''\
## Data memory: hierarchical vs flat batches

Bytes held per real event on the training view: HierTCN's `[32, 10, 20]` session batches; a
flat model's batches of the same users in the same order, each row padded to the longest
history of its group (capped at T = 500); the flat pipeline as built (fixed `[32, 500]` chunks);
and the per-row footprint of one step (current session ids + a 256-float state vs a 500-id
window).'''),
    ("code", '''\
from types import SimpleNamespace
from hiertcn_keras.data.batcher import QueueBatcher
from hiertcn_keras.data.tensors import FlatTable, SessionTable

geometry = SimpleNamespace(batch_size=32, slots=10, flat_len=500, hidden=256)
view = dataset.view("train")
hier = QueueBatcher(SessionTable.from_view(view, dataset.max_session_len), 32, 10, shuffle=True)
flat = QueueBatcher(FlatTable.from_view(view, 500), 32, 1, shuffle=True)
memory = ex.memory_report(view, hier, flat, geometry)
per_event = memory["bytes_per_event"]
rows = memory["row_bytes"]
memory_table = pd.DataFrame({
    "bytes per real event": [per_event["hier"], per_event["flat_padded"], per_event["flat_built"]],
    "hierarchical / this": [1.0, memory["ratio_hier_over_flat"], memory["ratio_hier_over_flat_built"]],
}, index=["hierarchical [32, 10, 20]", "flat, padded to the longest history", "flat as built [32, 500]"])
print(f"{memory['n_events']:,} training events, {memory['n_users']:,} users, history mean {memory['history_mean']:.1f}, "
      f"max {memory['history_max']} events")
print(f"one step per row: HierTCN serving (session ids + state) {rows['hier_serving']:,} B nominal, "
      f"{rows['hier_measured']:,.0f} B measured; flat TCN window {rows['flat_step']:,} B nominal, "
      f"{rows['flat_measured']:,.0f} B measured")
memory_table.round(3)
'''),
    ("md", "## A plot"),
    ("code", '''\
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
ratios = speed_table[["learned: × HierTCN", "pretrained: × HierTCN", "paper: × HierTCN"]]
ratios.columns = ["ours, learned space", "ours, pretrained space", "paper (GPU)"]
ratios.plot.bar(ax=axes[0])
axes[0].axhline(1.0, color="k", lw=0.8)
axes[0].set_title("training time × HierTCN (lower is faster)")
axes[0].tick_params(axis="x", rotation=0)
memory_table["bytes per real event"].plot.barh(ax=axes[1], color=["tab:red", "tab:blue", "tab:gray"])
axes[1].set_title("data bytes per real event")
fig.tight_layout()
show_png(fig, "02_time_memory.png")
'''),
    ("md", "## What agrees with the paper and what does not", "conclusion"),
]

# --------------------------------------------------------------------------------------------
NB3 = [
    ("md", '''\
# Objective functions

**What this reproduces.** The paper's objective-function table: HierTCN on Pinterest trained
with L2, NCE, BPR and Hinge in the *pretrained* item space (frozen PinSage item embeddings as
inputs and targets, the user embedding scored against items by inner product). The paper has
Hinge best on every metric, then NCE, BPR, and L2 last.

**How.** The item space is our GraphSAGE/PinSage item model (64 dimensions, importance-pooled
neighbourhoods from random walks, a sampled softmax (τ 0.1) over 500 shared negatives, 5 epochs:
the defaults of `hiertcn embed-items`; notebook 5 builds and trains that model step by step),
trained on the training events only. HierTCN is then built inline in that space and trained
with `fit` once per loss (formulas in
[docs/concepts.md](../docs/concepts.md#item-spaces-and-losses), as in the official `loss.py`)
with 20 negatives drawn uniformly from the catalogue — the paper used the other pins of the
same feed view, which we do not have — and is evaluated like the main table (full catalogue,
conservative ties, seed 0, no tuning).'''),
    ("params", PARAMS_COMMON + '''\
EPOCHS = 10
ITEM_EPOCHS = 5                       # item-model epochs (the embedding store)
LOSSES = ["l2", "nce", "bpr", "hinge"]
JIT = "auto"
MODEL_OVERRIDES = {}                  # ModelConfig fields; empty: the package defaults
ITEM_OVERRIDES = {}                   # ItemModelConfig fields; empty: the defaults of `hiertcn embed-items`
'''),
    ("md", "## Setup and data"),
    ("code", SETUP),
    ("code", SAMPLE_BATCH),
    ("md", '''\
## The item space

`experiments.item_store` trains the item model and writes an embedding store (what
`hiertcn embed-items` writes), or reuses the store in `WORK/items` when it was trained with the
same settings on the same data. Row *i* of the matrix is item *i*'s vector (row 0: padding).'''),
    ("code", '''\
from hiertcn_keras.training.item_training import ItemModelConfig

store = ex.item_store(DATA_DIR, WORK / "items", ItemModelConfig(epochs=ITEM_EPOCHS, **ITEM_OVERRIDES))
matrix = store["matrix"]
print(("reused" if store["reused"] else "trained"), f"item store: {matrix.shape[0] - 1:,} items × "
      f"{matrix.shape[1]} dims; graph {store['report']['graph']}")
'''),
    ("md", '''\
## HierTCN in the pretrained item space

With `item_space="pretrained"` the item table is the frozen matrix above (inputs *and* targets),
the user embedding has its width, and the loss compares the user embedding with the next
item's vector and sampled negatives. Compared with notebook 1's model, the trainable item
table is gone: look at the trainable and non-trainable parameter counts.'''),
    ("code", FIT_FUNCTION),
    ("code", '''\
keras.utils.set_random_seed(0)
config = model_config_for(dataset, model="hiertcn", item_space="pretrained", loss=LOSSES[0], **MODEL_OVERRIDES)
model = build_recommender(config, item_matrix=matrix, item_counts=dataset.item_counts("train"))
model(training_data(dataset, model.model_config)[1])
model.summary()
'''),
    ("md", FIT_FUNCTION_INTRO + '''

One run per loss, then their learning curves (the losses have different scales; compare the
validation curves).'''),
    ("code", '''\
results, curves = [], {}
for loss in LOSSES:
    _, curve, metrics, _ = fit_model("hiertcn", EPOCHS, item_matrix=matrix, item_space="pretrained", loss=loss,
                                     **MODEL_OVERRIDES)
    curves[ex.NAMES[loss]] = curve
    results.append(dict(metrics, model=loss))
    print(f"hiertcn/{loss} ({len(curve['loss'])} epochs): Recall@10 {metrics['recall@10']:.4f}, MRR {metrics['mrr']:.4f}")
plot_learning_curves(curves, "03_curves.png")
'''),
    ("md", "## The table (ours above, the paper's Pinterest numbers below)"),
    ("code", '''\
table = ex.paper_layout(results, paper={"Pinterest": ex.PAPER_OBJECTIVES})
table.round(4)
'''),
    ("code", '''\
by_loss = {r["model"]: r for r in results}
rows = []
for metric in ex.METRICS:
    pairs = ex.pairwise_orderings({m: r[metric] for m, r in by_loss.items()}, ex.PAPER_OBJECTIVES[metric], metric)
    rows.append({"metric": ex.METRICS[metric], "pairs": len(pairs), "same order": int(pairs["agree"].sum()),
                 "best (ours)": ex.NAMES[(min if metric == "mrp" else max)(by_loss, key=lambda m: by_loss[m][metric])],
                 "best (paper)": "Hinge"})
pd.DataFrame(rows).set_index("metric")
'''),
    ("md", "## A plot"),
    ("code", '''\
frame = ex.results_frame(results)
paper = pd.DataFrame({ex.NAMES[l]: {ex.METRICS[m]: ex.PAPER_OBJECTIVES[m][l] for m in ex.METRICS} for l in LOSSES}).T
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
pd.DataFrame({"ours": frame["Recall@10"], "paper (Pinterest)": paper["Recall@10"]}).plot.bar(ax=axes[0])
axes[0].set_title("Recall@10 by loss")
pd.DataFrame({"ours": frame["MRR"], "paper (Pinterest)": paper["MRR"]}).plot.bar(ax=axes[1])
axes[1].set_title("MRR by loss")
for ax in axes:
    ax.tick_params(axis="x", rotation=0)
fig.tight_layout()
show_png(fig, "03_objectives.png")
'''),
    ("md", "## What agrees with the paper and what does not", "conclusion"),
]

# --------------------------------------------------------------------------------------------
NB4 = [
    ("md", '''\
# Case study: one user's history and three models' predictions

**What this reproduces.** The talk's last slide: a user's past sessions, then the top
predictions of MV, a flat TCN and HierTCN for their next click. Pinterest showed pin images; our
default dataset is synthetic, so an item is shown as its id and the generator's true topic
(`topic 7`), which is exactly the structure a model should pick up: a synthetic user has a few
long-term topics that drift slowly, each session mostly stays in one topic, and inside a session
an item is often followed by its fixed successor. XING and Globo.com logs carry no item names
either; with `DATA` set, items are shown by their ids.

**How.** The HierTCN and TCN models are the ones notebook 1 trained with `fit` and saved under
`WORK/models/<model>` (loaded with their configuration checked: same settings, epochs, seed and
data, else trained here with the same steps); MV averages the co-occurrence vectors of the last
10 items. The user is picked by a fixed rule, not by how well any model does on them: the test
user with the most earlier sessions (ties: the lowest index), unless `USER` names one.'''),
    ("params", PARAMS_COMMON + '''\
EPOCHS = 10
USER = None                           # a user id of the dataset, or None for the rule above
SHOW_SESSIONS = 6                     # past sessions shown
K = 5                                 # predictions shown per model
JIT = "auto"
MODEL_OVERRIDES = {}                  # must match notebook 1's for its models to be reused
EPOCHS_BY_MODEL = {}                  # likewise
'''),
    ("md", "## Setup and data"),
    ("code", SETUP),
    ("code", SAMPLE_BATCH),
    ("md", FIT_FUNCTION_INTRO),
    ("code", FIT_FUNCTION),
    ("md", '''\
## The models

`fit_model(..., reuse=True)` builds the configuration it would train and loads notebook 1's
saved model only if it was trained with exactly that configuration, epochs, seed and data.
The learning curves are the saved `History` of those runs.'''),
    ("code", '''\
models, curves = {}, {}
for name in ("hiertcn", "tcn"):
    models[name], curves[ex.NAMES[name]], metrics, reused = fit_model(
        name, EPOCHS_BY_MODEL.get(name, EPOCHS), save_to=WORK / "models" / name, reuse=True, **MODEL_OVERRIDES)
    print(("reused" if reused else "trained"), f"{name}: test Recall@10 {metrics['recall@10']:.4f}")
models["hiertcn"].summary()
plot_learning_curves(curves, "04_curves.png")
mv = ex.fit_baseline("mv", dataset)
'''),
    ("md", "## The user"),
    ("code", '''\
view = dataset.view("test")
topics = ex.item_topics(LOG, dataset) if LOG is not None else None
ids = np.concatenate([[""], dataset.items["id"].astype(str).to_numpy()])

def label(index):
    return f"{ids[index]} (topic {topics[index]})" if topics is not None else str(ids[index])

scored = np.flatnonzero(view.score)
if USER is None:
    candidates = np.unique(view.user[scored])
    earlier = [len(np.unique(view.session[(view.user == u) & ~view.score])) for u in candidates]
    user = int(candidates[int(np.argmax(earlier))])
else:
    user = int(dataset.users.loc[dataset.users["id"].astype(str) == str(USER), "index"].iloc[0])
mine = np.flatnonzero(view.user == user)
target = int(scored[view.user[scored] == user][0])   # the user's first scored (test-period) event
past = mine[mine < target]
sessions = view.session[past]
print(f"user {dataset.users['id'].astype(str).iloc[user - 1]}: {len(np.unique(sessions))} earlier sessions, "
      f"{len(past)} earlier events; showing the last {SHOW_SESSIONS} sessions and the next click")
shown = []
for s in np.unique(sessions)[-SHOW_SESSIONS:]:
    items = view.item[past[sessions == s]]
    shown.append({"session": int(s), "items": ", ".join(label(i) for i in items)})
with pd.option_context("display.max_colwidth", None):
    display(pd.DataFrame(shown).set_index("session"))
'''),
    ("md", "## The predictions for the next click"),
    ("code", '''\
truth = int(view.item[target])
predictions = {"MV": ex.top_k_baseline(mv, view, [target], K)[0][0]}
for name, label_name in (("tcn", "TCN"), ("hiertcn", "HierTCN")):
    predictions[label_name] = ex.top_k_recommender(models[name], view, user, [target], K)[0][0]
print(f"next click: {label(truth)}  (previous click: {label(view.item[target - 1]) if target - 1 in mine else 'none'})")
pd.DataFrame({m: [label(i) + ("  ✓" if i == truth else "") for i in items] for m, items in predictions.items()},
             index=[f"#{r + 1}" for r in range(K)])
'''),
    ("md", '''\
Over every scored event of this user (not only the first), where does each model rank the
clicked item? (rank 1 = top of the list; full catalogue, conservative ties)'''),
    ("code", '''\
events = scored[view.user[scored] == user]
ranks = {}
full = mv.scores(view, events)
ranks["MV"] = [(full[i, 1:] >= full[i, t]).sum() for i, t in enumerate(view.item[events])]
for name, label_name in (("tcn", "TCN"), ("hiertcn", "HierTCN")):
    items, _ = ex.top_k_recommender(models[name], view, user, events, dataset.n_catalogue)
    ranks[label_name] = [int(np.flatnonzero(row == t)[0]) + 1 for row, t in zip(items, view.item[events])]
rank_frame = pd.DataFrame(ranks, index=[label(i) for i in view.item[events]])
rank_frame.index.name = "clicked item"
print(f"{len(events)} scored events; median rank: " + ", ".join(f"{m} {np.median(r):.0f}" for m, r in ranks.items()))
rank_frame.head(12)
'''),
    ("md", "## A plot"),
    ("code", '''\
fig, ax = plt.subplots(figsize=(8, 3.2))
for m, r in ranks.items():
    ax.plot(np.arange(1, len(r) + 1), r, marker="o", ms=3, label=m)
ax.set_yscale("log")
ax.invert_yaxis()
ax.set_xlabel("scored event of this user (in time order)")
ax.set_ylabel("rank of the clicked item")
ax.legend()
ax.set_title("rank of each next click (log scale, rank 1 at the top: higher is better)")
fig.tight_layout()
show_png(fig, "04_case_study.png")
'''),
    ("md", "## What this shows, and what it does not", "conclusion"),
]

# --------------------------------------------------------------------------------------------
NB5 = [
    ("md", '''\
# Item embeddings

**What this shows.** The talk's item space comes from a localized graph convolutional network
(PinSage-style GraphSAGE): items are nodes, linked when a user interacted with both;
neighbourhoods are the items most visited by short random walks, and two importance-pooled
convolution layers produce an L2-normalised vector per item. This notebook builds that item
model step by step, trains it with `fit`, and looks inside the space it learns: the nearest
neighbours of a few items, how often an item's neighbours share its **true** topic (the
synthetic generator knows every item's topic), next-item retrieval quality, and a 2-D map of
the space coloured by the true topics. The paper has no table for this; it is the foundation of
the pretrained item space of notebook 3 and of MV/MaxItem there.

**How.** The steps of `hiertcn embed-items` with its defaults (a sampled softmax with τ 0.1 over
500 shared negatives, 64 dimensions, 5 epochs), on the training events only. For comparison:
the raw co-occurrence vectors (PPMI + truncated SVD of the same training co-occurrences, 64
dims) that MV/MaxItem use by default, and random vectors.'''),
    ("params", PARAMS_COMMON + '''\
ITEM_EPOCHS = 5
QUERIES = 4                           # items whose neighbours are listed
NEIGHBOURS = 5
MAP_ITEMS = 1000                      # items drawn on the 2-D map (most popular first)
ITEM_OVERRIDES = {}                   # ItemModelConfig fields; empty: the defaults of `hiertcn embed-items`
'''),
    ("md", "## Setup and data"),
    ("code", SETUP),
    ("code", '''\
view = dataset.view("train")
print("first 12 training events:")
pd.DataFrame({"user": view.user[:12], "session": view.session[:12], "position": view.position[:12],
              "item": view.item[:12]}).T
'''),
    ("md", '''\
## The item graph and its neighbourhoods

Two items are linked when one user engaged with both within `window` events; the edge weight
counts how often. PinSage does not convolve over all graph neighbours: for each item it runs
short random walks and keeps the `top_t` most visited items, weighted by their visit counts
(*importance pooling*). What to look at: the graph's size and how many items have a full
neighbourhood.'''),
    ("code", '''\
from hiertcn_keras.graph import cointeraction_graph, graph_stats, importance_neighbourhoods
from hiertcn_keras.training.item_config import ItemModelConfig

item_config = ItemModelConfig(epochs=ITEM_EPOCHS, **ITEM_OVERRIDES)
keras.utils.set_random_seed(item_config.seed)
graph = cointeraction_graph(view, dataset.n_items, window=item_config.window)
neighbours, weights = importance_neighbourhoods(graph, n_walks=item_config.n_walks, walk_length=item_config.walk_length,
                                                top_t=item_config.top_t, seed=item_config.seed)
print("graph:", graph_stats(graph))
print(f"neighbourhoods: {neighbours.shape[1]} per item; items with a full one: "
      f"{int((weights > 0).all(axis=1).sum()):,} of {dataset.n_items - 1:,}")
'''),
    ("md", '''\
## Build the item model

`ItemGraphEncoder` embeds an item from its own id vector and its importance-weighted
neighbourhood (two graph convolutions, L2-normalised output); `ItemModel` trains it on pairs of
items clicked one after the other in a session, each scored against negatives shared by the
batch.'''),
    ("code", '''\
import tensorflow as tf
from hiertcn_keras.models.item_model import HardNegativeCurriculum, ItemGraphEncoder, ItemModel, embed_all, training_pairs

encoder = ItemGraphEncoder(dataset.n_items, neighbours, weights, dim=item_config.dim, name="item_encoder")
popularity = item_config.negative_distribution == "popularity"
item_model = ItemModel(encoder, loss_name=item_config.loss, n_negatives=item_config.n_negatives,
                       margin=item_config.margin, item_counts=dataset.item_counts("train") if popularity else None,
                       seed=item_config.seed, temperature=item_config.temperature,
                       max_hard_negatives=item_config.hard_negatives)
query, positive = training_pairs(view)
item_model({"query": query[:2], "positive": positive[:2]})
item_model.summary()
print(f"{len(query):,} training pairs")
'''),
    ("md", '''\
## Train it with `fit`

The pairs go through `tf.data` (shuffled every epoch, batches of `batch_size` pairs). The
curriculum callback adds hard negatives (from the query's two-hop neighbourhood) from the
second epoch on when `hard_negatives` is above 0 (the default is 0). What to look at: the loss
should fall every epoch; there is no validation metric inside `fit` here, the retrieval quality
is measured below.'''),
    ("code", '''\
item_model.compile(optimizer=keras.optimizers.Adam(item_config.learning_rate))
pairs = tf.data.Dataset.from_tensor_slices({"query": query, "positive": positive})
pairs = pairs.shuffle(len(query), seed=item_config.seed, reshuffle_each_iteration=True)
pairs = pairs.batch(item_config.batch_size).prefetch(2)
item_history = item_model.fit(pairs, epochs=item_config.epochs, verbose=2, callbacks=[HardNegativeCurriculum()])
plot_learning_curves({"GraphSAGE item model": item_history.history}, "05_item_curve.png")
'''),
    ("md", '''\
## The item spaces

Every item is embedded in batches (row 0 is padding); `hiertcn embed-items` writes this matrix
to an embedding store.'''),
    ("code", '''\
from hiertcn_keras.models.item_vectors import cooccurrence_vectors

graph_vectors = embed_all(encoder, dataset.n_items)
spaces = {"GraphSAGE (ours)": graph_vectors,
          "co-occurrence (PPMI + SVD)": cooccurrence_vectors(view, dataset.n_items, dim=graph_vectors.shape[1]),
          "random": np.random.default_rng(0).normal(size=graph_vectors.shape).astype("float32")}
topics = ex.item_topics(LOG, dataset) if LOG is not None else None
ids = np.concatenate([[""], dataset.items["id"].astype(str).to_numpy()])
label = (lambda i: f"{ids[i]} (topic {topics[i]})") if topics is not None else (lambda i: ids[i])
print(f"GraphSAGE space: {graph_vectors.shape[0] - 1:,} items × {graph_vectors.shape[1]} dims")
'''),
    ("md", "## Nearest neighbours of a few items (cosine, the item itself excluded)"),
    ("code", '''\
counts = dataset.item_counts("train")
queries = np.argsort(-counts[: dataset.n_catalogue + 1], kind="stable")[: QUERIES * 25 : 25]  # spread over popularity
rows = []
for q in queries:
    items, cosine = ex.nearest_items(graph_vectors, [q], NEIGHBOURS, dataset.n_catalogue)
    rows.append({"item": label(q), "train clicks": int(counts[q]),
                 "neighbours (cosine)": ", ".join(f"{label(i)} {c:.2f}" for i, c in zip(items[0], cosine[0]))})
with pd.option_context("display.max_colwidth", None):
    display(pd.DataFrame(rows).set_index("item"))
'''),
    ("md", '''\
## How well do the spaces recover the structure?

*Topic purity@10*: the share of an item's 10 nearest neighbours that have its true topic
(synthetic data only). *Next-item hit-rate@10 / MRR*: retrieve the next item of a test session
by nearest neighbour of the previous item (the query item excluded).'''),
    ("code", '''\
from hiertcn_keras.training.item_quality import next_item_quality

test = dataset.view("test")
quality = []
for name, vectors in spaces.items():
    q = next_item_quality(vectors, test, dataset.n_catalogue)
    row = {"space": name, "next-item hit@10": q["recall@10"], "next-item hit@20": q["recall@20"], "MRR": q["mrr"]}
    if topics is not None:
        row["topic purity@10"] = ex.topic_purity(vectors, topics, 10, dataset.n_catalogue)
    quality.append(row)
print(f"{q['n_events']:,} consecutive test pairs" + (f"; {len(set(topics[1:]))} true topics" if topics is not None else ""))
pd.DataFrame(quality).set_index("space").round(4)
'''),
    ("md", "## A 2-D map of the item space"),
    ("code", '''\
from sklearn.manifold import TSNE

shown = np.argsort(-counts[: dataset.n_catalogue + 1], kind="stable")[:MAP_ITEMS]
shown = shown[shown > 0]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
for ax, name in zip(axes, ["GraphSAGE (ours)", "co-occurrence (PPMI + SVD)"]):
    vectors = spaces[name][shown]
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    xy = TSNE(n_components=2, perplexity=min(30, len(shown) - 1), init="pca", random_state=0).fit_transform(vectors)
    colour = topics[shown] if topics is not None else "tab:blue"
    ax.scatter(xy[:, 0], xy[:, 1], c=colour, cmap="tab20", s=6)
    ax.set_title(f"{name}: t-SNE of {len(shown)} items" + (", colour = true topic" if topics is not None else ""))
    ax.set_xticks([]); ax.set_yticks([])
fig.tight_layout()
show_png(fig, "05_item_map.png")
'''),
    ("md", "## What this shows, and what it does not", "conclusion"),
]

# --------------------------------------------------------------------------------------------
FRESH_DATA = '''\
from hiertcn_keras.data.loaders import load
from hiertcn_keras.data.prepare import PrepareConfig, prepare

WORK = Path(WORK)
if GLOBO_LOG is None:  # `hiertcn synth --generator drift`: items are born throughout the log
    from hiertcn_keras.data.drift_synthetic import DriftConfig, generate_drift
    from hiertcn_keras.data.drift_synthetic_io import save_drift

    LOG = save_drift(generate_drift(DriftConfig(n_users=USERS, n_items=ITEMS, seed=SEED, span_days=SPAN_DAYS),
                                    with_oracle=False), WORK / "drift" / "log.csv")
else:
    LOG = Path(GLOBO_LOG)
log = load(LOG, "generic")
if USER_FRACTION < 1:  # keep a random share of the users (all of their events)
    import dataclasses

    users = log.events["user"].unique()
    keep = np.random.default_rng(0).permutation(len(users))[: max(1, int(round(USER_FRACTION * len(users))))]
    frame = log.events[log.events["user"].isin(set(users[keep]))].reset_index(drop=True)
    log = dataclasses.replace(log, events=frame, n_rows=len(frame) + sum(log.dropped.values()))
DATA_DIR = WORK / "prepared"
prepare(log, PrepareConfig()).write(DATA_DIR, overwrite=True)
dataset = PreparedDataset(DATA_DIR)
print(f"{LOG.name}: {dataset.stats['n_events']:,} events, {dataset.n_users:,} users, {dataset.n_items - 1:,} items "
      f"(training catalogue {dataset.n_catalogue:,}), protocol {dataset.protocol}")
'''

NB6 = [
    ("md", '''\
# Fresh items: a catalogue that changes every day

**What this shows.** The talk's web-scale design recomputes the item embeddings **once a day**
from the newest interaction graph, keeps the user model fixed, and ranks each user's embedding
against that day's vectors. A model whose items are learned ids can only ever rank the items it
was trained on, which on a news site is a small and shrinking share of what people click. This
notebook measures it: per test day, the share of the clicks a model can score at all
(*coverage*) and its Recall@10 and MRR on them, for

- **(a)** HierTCN with a *learned* item space, trained once (its candidates: the training catalogue);
- **(b)** HierTCN in the *pretrained* item space of a GraphSAGE item model trained once, with
  every item seen before each test day **re-embedded by that same item model** from the graph of
  the events before the day (the user model and the item model are not retrained); candidates:
  every item seen before the day. **(b0)** is the same model with the vectors of the training
  split only, for reference;
- **(c)** recent popularity (the last `RECENT_HOURS` hours) and session-kNN, refitted per day on
  the events before it, with the same candidates as (b);

plus the time to re-embed one day's catalogue.

**Data.** By default the project's drift generator (`hiertcn synth --generator drift`: users with
drifting interests, items born throughout the log and fading with age). `GLOBO_LOG` takes a
click log of your own in the generic format (`user_id,item_id,timestamp`), e.g. a slice of the
public Globo.com news log; `ROLLING = "hour"` evaluates per hour, as news needs. Every metric is
over the full set of candidates (conservative ties), averaged per scored event; coverage is
printed beside it, because a high Recall@10 over a few scored clicks is not a recommender.'''),
    ("params", '''\
# Parameters (papermill: `-p NAME VALUE`).
GLOBO_LOG = None                      # a generic-format click log (e.g. a Globo.com slice); None = drift generator
USER_FRACTION = 1.0                   # share of the log's users kept (all their events)
USERS, ITEMS, SEED = 1500, 2000, 11   # drift generator (ignored with GLOBO_LOG)
SPAN_DAYS = 28
ROLLING = "day"                       # "day" or "hour"
EPOCHS = 5                            # HierTCN epochs, both item spaces
ITEM_EPOCHS = 3                       # GraphSAGE item-model epochs
RECENT_HOURS = 24.0
JIT = "auto"
MODEL_OVERRIDES = {}                  # ModelConfig fields of both HierTCN runs
ITEM_OVERRIDES = {}                   # ItemModelConfig fields
WORK = "../runs/notebooks/fresh"
'''),
    ("md", "## Setup and data"),
    ("code", SETUP_IMPORTS),
    ("code", FRESH_DATA),
    ("md", '''\
How fresh is the test period? For each test click: was its item clicked before the training
cut, before the start of the click's day, or only later the same day?'''),
    ("code", '''\
from hiertcn_keras.training import rolling

events = dataset.events
first = rolling.first_seen(dataset)
cut = float(events["timestamp"][events["split"] > 0].min())      # the training cut
test = events["split"] == 2
items, times = events["item"][test], events["timestamp"][test]
period = np.floor(times / rolling.UNITS[ROLLING]) * rolling.UNITS[ROLLING]
pd.DataFrame({"share of test clicks": [np.mean(first[items] < cut), np.mean(first[items] < period),
                                       np.mean(first[items] >= period)]},
             index=["item seen before the training cut", f"item seen before the click's {ROLLING}",
                    f"item first seen during the click's {ROLLING}"]).round(3)
'''),
    ("md", FIT_FUNCTION_INTRO),
    ("code", FIT_FUNCTION),
    ("md", '''\
## (a) HierTCN with learned item ids, trained once'''),
    ("code", '''\
learned, learned_curve, _, _ = fit_model("hiertcn", EPOCHS, **MODEL_OVERRIDES)
learned.summary()
'''),
    ("md", '''\
## The item model, trained once, and its daily job

The GraphSAGE item model is trained on the training events (notebook 5 shows the steps). Its
weights then stay fixed: `ItemRefresher` rebuilds the co-interaction graph and the
neighbourhoods from the events before a given time and embeds every item seen by then, new
items included (through their neighbours: an id the model never trained on has a zero id
vector). That is the daily job (`hiertcn embed-items --until T --model M.keras`).'''),
    ("code", '''\
import time
from hiertcn_keras.models.item_model import embed_all
from hiertcn_keras.training.dated_items import ItemRefresher, events_before
from hiertcn_keras.training.item_config import ItemModelConfig
from hiertcn_keras.training.item_training import train_item_model

item_config = ItemModelConfig(epochs=ITEM_EPOCHS, **ITEM_OVERRIDES)
item_model, item_report = train_item_model(DATA_DIR, item_config, verbose=0)
matrix = embed_all(item_model.encoder, dataset.n_items)      # the training split's item space
refresher = ItemRefresher.from_config(item_model.encoder, item_config)
print(f"item model: {item_report['pairs']:,} training pairs, {item_config.epochs} epochs, "
      f"{item_report['train_seconds']:.1f} s; graph {item_report['graph']}")
'''),
    ("md", '''\
## (b) HierTCN in the pretrained item space

The same HierTCN, trained with the item vectors as frozen inputs and targets; its user model is
then kept fixed while the vectors change every day.'''),
    ("code", '''\
pretrained, pretrained_curve, _, _ = fit_model("hiertcn", EPOCHS, item_matrix=matrix, item_space="pretrained",
                                               **MODEL_OVERRIDES)
plot_learning_curves({"(a) learned items": learned_curve, "(b) pretrained items": pretrained_curve}, "06_curves.png")
'''),
    ("md", '''\
## Rolling evaluation

`rolling_evaluate_recommender` walks the test period one day (or hour) at a time: the
candidates are the items seen before the period, the item vectors those `vectors(start)`
returns, and every evaluated user's history up to the period's end is replayed through the
fixed user model in those vectors. The baselines are refitted per period on the events before
it and rank the same candidates.'''),
    ("code", '''\
embed_seconds, embed_reports = [], []

def vectors_of_the_day(start):
    began = time.perf_counter()
    out, report = refresher.embed(events_before(dataset, start))
    embed_seconds.append(time.perf_counter() - began)
    embed_reports.append(report)
    return out, start, "re-embedded"

results = [
    rolling.rolling_evaluate_recommender(learned, dataset, ROLLING, name="(a) HierTCN, learned items, trained once"),
    rolling.rolling_evaluate_recommender(pretrained, dataset, ROLLING, vectors=vectors_of_the_day,
                                         name=f"(b) HierTCN, items re-embedded per {ROLLING}"),
    rolling.rolling_evaluate_recommender(pretrained, dataset, ROLLING, vectors=lambda start: (matrix, cut, "training"),
                                         name="(b0) HierTCN, training-split item vectors"),
    rolling.rolling_evaluate_baseline(rolling.recent_popularity(RECENT_HOURS), dataset, ROLLING,
                                      name=f"(c) recent popularity, last {RECENT_HOURS:g} h"),
    rolling.rolling_evaluate_baseline(rolling.session_knn(), dataset, ROLLING, name="(c) session-kNN"),
]
for r in results:
    print(rolling.format_rolling(r), end="\\n\\n")
'''),
    ("md", "## The table: coverage and ranking per test period"),
    ("code", '''\
rows = []
for r in results:
    for p in r["periods"]:
        rows.append({"model": r["model"], "period": p["start"][:13], "candidates": p["n_candidates"],
                     "coverage": p["coverage"], "scored": p["n_scored"], "targets": p["n_targets"],
                     "Recall@10": p["recall@10"], "MRR": p["mrr"]})
    rows.append({"model": r["model"], "period": "overall", "coverage": r["coverage"], "scored": r["n_events"],
                 "targets": r["n_targets"], "Recall@10": r["recall@10"], "MRR": r["mrr"]})
fresh_table = pd.DataFrame(rows).set_index(["model", "period"])
fresh_table.round(4)
'''),
    ("code", '''\
last = embed_reports[-1]
print(f"re-embedding one {ROLLING}'s catalogue (graph + neighbourhoods + forward pass, item model of "
      f"{matrix.shape[1]} dims): mean {np.mean(embed_seconds):.2f} s over {len(embed_seconds)} periods; the last one: "
      f"{last['n_seen']:,} items ({last['n_new']:,} never trained on), {last['n_events']:,} events, graph "
      f"{last['graph']}; {len(os.sched_getaffinity(0))} CPUs allowed, 1-minute load {os.getloadavg()[0]:.1f}")
'''),
    ("md", "## A plot"),
    ("code", '''\
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for r in results:
    starts = [p["start"][5:13] for p in r["periods"]]
    axes[0].plot(starts, [p["coverage"] for p in r["periods"]], marker="o", label=r["model"])
    axes[1].plot(starts, [p["recall@10"] for p in r["periods"]], marker="o", label=r["model"])
axes[0].set(title="coverage (scored / all test clicks)", ylim=(0, 1.05))
axes[1].set(title="Recall@10 on the scored clicks")
for ax in axes:
    ax.tick_params(axis="x", rotation=45)
axes[1].legend(fontsize=7)
fig.tight_layout()
show_png(fig, "06_fresh_items.png")
'''),
    ("md", "## What this shows, and what it does not", "conclusion"),
]

NOTEBOOKS = {
    "01_hiertcn_vs_others.ipynb": NB1,
    "02_training_time_and_memory.ipynb": NB2,
    "03_objective_functions.ipynb": NB3,
    "04_case_study.ipynb": NB4,
    "05_item_embeddings.ipynb": NB5,
    "06_fresh_items.ipynb": NB6,
}

# The closing paragraphs, written after the full runs (see README.md for the commands).
CONCLUSIONS = {name: "" for name in NOTEBOOKS}
CONCLUSIONS_FILE = HERE / "conclusions.md"


def _conclusions():
    """Closing paragraphs from `conclusions.md` (`## <notebook file>` sections)."""
    out = dict(CONCLUSIONS)
    if CONCLUSIONS_FILE.is_file():
        current = None
        for line in CONCLUSIONS_FILE.read_text().splitlines():
            if line.startswith("## ") and line[3:].strip() in NOTEBOOKS:
                current = line[3:].strip()
                out[current] = ""
            elif current:
                out[current] += line + "\n"
    return {k: v.strip() for k, v in out.items()}


def _conclusion_text(heading, body):
    return heading + "\n\n" + (body or "*(written after the full run)*")


def build(name, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    conclusions = _conclusions()
    for cell in cells:
        kind, source = cell[0], cell[1]
        if kind == "md":
            if len(cell) > 2 and cell[2] == "conclusion":
                c = nbformat.v4.new_markdown_cell(_conclusion_text(source, conclusions[name]))
                c.metadata["tags"] = ["conclusion"]
            else:
                c = nbformat.v4.new_markdown_cell(source)
        elif kind == "params":
            c = nbformat.v4.new_code_cell(source)
            c.metadata["tags"] = ["parameters"]
        else:
            c = nbformat.v4.new_code_cell(source.rstrip("\n"))
        nb.cells.append(c)
    for i, c in enumerate(nb.cells):
        c["id"] = f"{Path(name).stem[:2]}-{i:02d}"
    return nb


def refresh_conclusions(path):
    """Rewrite the `conclusion` cell of an executed notebook in place (outputs kept)."""
    nb = nbformat.read(path, as_version=4)
    body = _conclusions()[path.name]
    for cell in nb.cells:
        if "conclusion" in cell.metadata.get("tags", []):
            heading = cell.source.split("\n", 1)[0]
            cell.source = _conclusion_text(heading, body)
    nbformat.write(nb, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conclusions", action="store_true", help="only refresh the closing paragraphs")
    parser.add_argument("--out", default=str(HERE), help="folder to write (default: notebooks/)")
    parser.add_argument("names", nargs="*", help="notebook files (default: all)")
    args = parser.parse_args(argv)
    for name in args.names or NOTEBOOKS:
        path = Path(args.out) / name
        if args.conclusions:
            refresh_conclusions(path)
        else:
            nbformat.write(build(name, NOTEBOOKS[name]), path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
