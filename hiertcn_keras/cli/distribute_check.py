"""Check that `MirroredStrategy` trains what one process trains, on the same prepared data.

    python -m hiertcn_keras.cli.distribute_check --data PREPARED --out DIR --cpu-devices 2 \
        --models hiertcn gru --epochs 2

For every model named, trains it twice from the same seed (no strategy, then `mirrored`) and
writes `DIR/check.json` with, per model: the replicas and rows per replica, each run's
per-epoch losses and training events/s, each final model's mean loss over one pass over the
training split, the largest difference between the two runs' weights, and the largest
difference between their carried states after training. The distributed run's state is its
replicas' copies concatenated in replica order (`distribute.copy_weights`), so a zero
difference says that every replica computed, for its own rows, the states that one process
computes for them.

`--cpu-devices N` splits the CPU into N logical devices, so that a machine without GPUs has N
replicas; TensorFlow allows that only before it starts, which is why this is a program of its
own (tests/training/test_distribute.py runs it in a subprocess). Multi-worker runs cannot be
checked in one process (the strategy must exist before TensorFlow runs anything); the
multi-worker test compares separate processes instead.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

import numpy as np


def local_tf_configs(n_workers):
    """`TF_CONFIG` values for a cluster of `n_workers` workers on 127.0.0.1, each on a free port.

    Returns:
        list of JSON strings, one per worker index.
    """
    sockets = [socket.socket() for _ in range(n_workers)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    for s in sockets:
        s.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": k}}) for k in range(n_workers)]


def mean_training_loss(model, dataset):
    """Mean loss per scored event of `model` over one pass over the training split (index order).

    Args:
        model: `Recommender` (B rows).
        dataset: `PreparedDataset`.

    Returns:
        float.
    """
    from hiertcn_keras.training.evaluate import batcher_for

    model.reset_states()
    total = events = 0.0
    for batch in batcher_for(model.model_config, dataset.view("train")).batches():
        u = model.predict_on_batch(batch)
        weight = float(batch["score"].sum())
        if weight:
            total += float(model.compute_loss(x=batch, y_pred=u)) * weight
            events += weight
    return total / max(events, 1.0)


def compare_runs(single, distributed):
    """Largest absolute differences `(weights, carried states)` between two same-shape models."""
    weights = states = 0.0
    for a, b in zip(single.weights, distributed.weights):
        difference = float(np.max(np.abs(np.asarray(a) - np.asarray(b)), initial=0.0))
        if a.aggregation == "only_first_replica" and not a.trainable:
            states = max(states, difference)
        else:
            weights = max(weights, difference)
    return weights, states


def check(data_dir, out_dir, models, model_options, epochs=2, seed=0):
    """Train every model without a strategy and with `mirrored`; returns the report (see module).

    Both runs go without XLA (a distributed run cannot use it), so that they run the same graph.
    """
    import json

    from hiertcn_keras.data.dataset import PreparedDataset
    from hiertcn_keras.training.train_config import TrainConfig
    from hiertcn_keras.training.trainer import model_config_for, train

    dataset = PreparedDataset(data_dir)
    report = {}
    for name in models:
        config = model_config_for(dataset, **{**model_options, "model": name})
        runs = {}
        for strategy in ("default", "mirrored"):
            # No validation: early stopping would restore the best epoch's weights, states included.
            train_config = TrainConfig(epochs=epochs, jit_compile=False, verbose=0, validate=False,
                                       seed=seed, strategy=strategy)
            run_dir = Path(out_dir) / name / strategy
            model, history, _ = train(data_dir, config, train_config, run_dir, evaluate_test=False)
            runs[strategy] = (model, history, json.loads((run_dir / "config.json").read_text()))
        weights, states = compare_runs(runs["default"][0], runs["mirrored"][0])  # before any reset
        distribution = runs["mirrored"][2]["distribution"]
        report[name] = {
            "replicas": distribution["replicas"],
            "rows_per_replica": distribution["rows_per_replica"],
            "global_batch": distribution["global_batch"],
            "max_weight_difference": weights,
            "max_state_difference": states,
            **{f"{key}_{strategy}": value for strategy, (model, history, _) in runs.items()
               for key, value in (("loss_history", history["loss"]),
                                  ("events_per_second", history["events_per_second"]),
                                  ("final_loss", mean_training_loss(model, dataset)))},
        }
    return report


def main(argv=None):
    from hiertcn_keras.cli.common import add_model_options, model_overrides

    parser = argparse.ArgumentParser(prog="python -m hiertcn_keras.cli.distribute_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="prepared dataset folder")
    parser.add_argument("--out", required=True, help="folder for the runs and check.json")
    parser.add_argument("--models", nargs="+", default=["hiertcn"], help="default hiertcn")
    parser.add_argument("--cpu-devices", type=int, default=0, metavar="N",
                        help="split the CPU into N logical devices (N replicas without GPUs)")
    add_model_options(parser)
    args = parser.parse_args(argv)
    if args.cpu_devices:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpu_devices)
    from hiertcn_keras.artifacts import atomic

    options = {k: v for k, v in model_overrides(args, None).items() if k != "model"}
    report = check(args.data, args.out, args.models, options, epochs=args.epochs, seed=args.seed)
    atomic.write_json(Path(args.out) / "check.json", report)
    print(f"check written to {Path(args.out) / 'check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
