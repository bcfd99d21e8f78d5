"""The paper's training-time table on one accelerator (or the CPU), on any Keras backend.

For every model (HierTCN, HierGRU, HRNN, flat TCN, flat GRU; optionally `tcn-per-user`, the flat
TCN with one user's window per row as before packing, and `gru4rec`), two batch sizes and both item
spaces (learned ids with the full softmax; frozen pretrained vectors with the hinge loss, the
talk's web-scale setup), this trains on real queue batches of the default synthetic data with
`train_on_batch` (compiled; compilation excluded by warm-up steps) and prints, from one run:

- events/s: scored events per second of training,
- bytes/event: bytes of the batch arrays fed to the model per scored event (padding's cost),
- × HierTCN: the model's time per scored event over HierTCN's (same batch size, item space),
- TFLOP/s achieved and its share of `--peak-tflops` (FLOPs of one training step, forward and
  backward, from XLA's cost analysis of the compiled gradient on the JAX backend; "n/a"
  elsewhere),
- h / 1.6B: implied hours of compute for one epoch of 1.6 billion interactions at that rate.

Runs inside 5 minutes on one GPU with the official widths. `--cpu` hides accelerators and uses
smaller widths and steps so that it finishes in minutes on a laptop CPU.

    KERAS_BACKEND=jax python benchmarks/bench_gpu.py --peak-tflops 989      # H100/H200 dense bf16
    KERAS_BACKEND=jax python benchmarks/bench_gpu.py --cpu --peak-tflops 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

if "--cpu" in sys.argv:
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_training import MODELS, default_dataset  # noqa: E402
from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.data.py_dataset import batch_nbytes  # noqa: E402
from hiertcn_keras.models import build_recommender  # noqa: E402
from hiertcn_keras.training.evaluate import batcher_for  # noqa: E402
from hiertcn_keras.training.trainer import model_config_for  # noqa: E402

INTERACTIONS = 1.6e9
# Benchmark rows beyond the paper's models: name → (model, config overrides).
VARIANTS = {"tcn-per-user": ("tcn", {"flat_packed": False}), "gru4rec": ("gru4rec", {})}
CHOICES = MODELS + tuple(VARIANTS)
CPU_WIDTHS = dict(embedding_dim=32, high_units=(32, 32), tcn_channels=(32, 32), low_gru_units=(32, 32),
                  hrnn_units=32, flat_tcn_channels=(32, 32, 32, 32, 64, 64), flat_gru_units=(48, 48),
                  gru4rec_units=(48,))


def train_step_flops(model, batch):
    """FLOPs of one training step (loss and gradient), from XLA's cost analysis; JAX only.

    Args:
        model: a compiled `Recommender`, built.
        batch: dict of arrays (one queue batch).

    Returns:
        float, or `None` off the JAX backend or when XLA gives no count.
    """
    if keras.backend.backend() != "jax":
        return None
    import jax

    def loss(trainable, non_trainable, metrics_variables, optimizer_variables):
        value, _ = model.compute_loss_and_updates(trainable, non_trainable, metrics_variables, batch, None, None,
                                                  training=True, optimizer_variables=optimizer_variables)
        return value

    grad = jax.jit(jax.grad(loss))
    values = [[v.value for v in variables] for variables in (
        model.trainable_variables, model.non_trainable_variables, model.metrics_variables, model.optimizer.variables)]
    analysis = grad.lower(*values).compile().cost_analysis()
    if isinstance(analysis, list):  # older JAX: one dict per device program
        analysis = analysis[0] if analysis else {}
    flops = (analysis or {}).get("flops")
    return float(flops) if flops else None


def measure(dataset, name, batch_size, item_space, steps, warmup, overrides):
    """Train `steps` timed steps of one model; returns a dict of rates (see the module doc)."""
    model_name, variant = VARIANTS.get(name, (name, {}))
    config = model_config_for(dataset, model=model_name, item_space=item_space, batch_size=batch_size,
                              **{**overrides, **variant})
    matrix = None
    if item_space == "pretrained":  # speed does not depend on the vectors: random unit vectors
        matrix = np.random.default_rng(0).normal(size=(dataset.n_items, config.embedding_dim)).astype("float32")
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    batcher = batcher_for(config, dataset.view("train"), shuffle=True, seed=0)
    plan = batcher.plan(0)
    batches = [batcher.table.gather(plan[k % len(plan)]) for k in range(warmup + steps)]
    model = build_recommender(config, item_matrix=matrix, item_counts=dataset.item_counts("train"))
    model(batches[0])
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=True)
    for batch in batches[:warmup]:
        model.train_on_batch(batch)
    events = sum(int(b["score"].sum()) for b in batches[warmup:])
    fed = {key for key in model.input_keys} | {"items", "score"}  # what the step reads
    data_bytes = sum(batch_nbytes({k: v for k, v in b.items() if k in fed}) for b in batches[warmup:])
    started = time.perf_counter()
    for batch in batches[warmup:]:
        loss = model.train_on_batch(batch)
    float(np.asarray(loss))  # wait for the last (asynchronously dispatched) step
    seconds = time.perf_counter() - started
    flops = train_step_flops(model, batches[warmup])
    return {"model": name, "batch_size": batch_size, "item_space": item_space, "loss": config.loss,
            "events_per_second": events / seconds, "step_ms": 1000 * seconds / steps,
            "bytes_per_event": data_bytes / events,
            "events_per_step": events / steps, "slots_per_step": int(np.prod(batches[0]["items"].shape)),
            "flops_per_step": flops, "achieved_tflops": None if flops is None else flops * steps / seconds / 1e12}


def run(dataset, models, batch_sizes, item_spaces, steps, warmup, overrides):
    """Every model × batch size × item space; adds `time_ratio_to_hiertcn` and `hours_per_1p6b`."""
    results = []
    for space in item_spaces:
        for batch_size in batch_sizes:
            for model in models:
                results.append(measure(dataset, model, batch_size, space, steps, warmup, overrides))
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # progress, one line each
    for r in results:
        base = next((q for q in results if q["model"] == "hiertcn" and q["batch_size"] == r["batch_size"]
                     and q["item_space"] == r["item_space"]), None)
        r["time_ratio_to_hiertcn"] = None if base is None else base["events_per_second"] / r["events_per_second"]
        r["hours_per_1p6b"] = INTERACTIONS / r["events_per_second"] / 3600
    return results


def table(results, peak_tflops):
    """Markdown table of `run`'s results."""
    lines = ["| item space | B | model | events/s | × HierTCN's time | events/step | bytes/event | TFLOP/s | % of peak "
             "| h / 1.6B |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ratio = "n/a" if r["time_ratio_to_hiertcn"] is None else f"{r['time_ratio_to_hiertcn']:.2f}"
        tflops = r["achieved_tflops"]
        achieved = "n/a" if tflops is None else f"{tflops:.3g}"
        share = "n/a" if tflops is None or not peak_tflops else f"{100 * tflops / peak_tflops:.1f}"
        lines.append(f"| {r['item_space']} ({r['loss']}) | {r['batch_size']} | {r['model']} | "
                     f"{r['events_per_second']:,.0f} | {ratio} | {r['events_per_step']:,.0f} | "
                     f"{r['bytes_per_event']:,.0f} | {achieved} | "
                     f"{share} | {r['hours_per_1p6b']:,.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="run on the CPU with smaller widths and fewer steps")
    parser.add_argument("--data", default=None, help="prepared dataset (default: synthesize the default one)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=CHOICES,
                        help="default: the paper's five; also tcn-per-user (the unpacked flat TCN) and gru4rec")
    parser.add_argument("--batch-sizes", nargs=2, type=int, default=None, metavar="B",
                        help="two batch sizes (default 32 256; --cpu: 8 32)")
    parser.add_argument("--item-spaces", nargs="+", default=["learned", "pretrained"],
                        choices=("learned", "pretrained"))
    parser.add_argument("--steps", type=int, default=None, help="timed steps per model (default 30; --cpu: 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation; default 2)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's peak TFLOP/s for the '% of peak' column")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    batch_sizes = args.batch_sizes or ([8, 32] if args.cpu else [32, 256])
    steps = args.steps or (5 if args.cpu else 30)
    overrides = CPU_WIDTHS if args.cpu else {}
    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dataset = PreparedDataset(args.data or default_dataset(tmp))
        results = run(dataset, args.models, batch_sizes, args.item_spaces, steps, args.warmup, overrides)
    device = "CPU" if args.cpu else _device_name()
    print(f"backend {keras.backend.backend()}, device {device}, {steps} timed steps per model, "
          f"widths {'--cpu (smaller)' if args.cpu else 'official'}, wall {time.perf_counter() - started:.0f} s")
    print(table(results, args.peak_tflops))
    print(json.dumps({"bench": "gpu", "backend": keras.backend.backend(), "device": device, "results": results}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def _device_name():
    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "CPU"


if __name__ == "__main__":
    main()
