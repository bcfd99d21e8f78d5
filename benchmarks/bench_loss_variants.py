"""Where the CPU time of the sampled softmax's default candidates goes: the whole step, variant by variant.

Times, in ONE process and on the same queue batches of a prepared log, the training step that
`train` runs (HierTCN, packed sessions, Adam, XLA; `bench_step_profile.profile`) with the
default candidates (1,024 popularity^0.75 shared negatives plus up to 1,024 in-batch targets,
log-Q corrected, accidental hits masked) and with one thing changed at a time:

- `default`: what `train` runs;
- `top_k pick`: the in-batch targets picked by `ops.top_k` over random keys, as first written
  (now `hiertcn_keras.losses.largest_keys`, the same set without a sort);
- `top_k pick, no dropout`: that, with `dropout` and `embedding_dropout` 0;
- `no in-batch`: the 1,024 shared negatives alone;
- `256 shared + in-batch`: M = 256 (so up to 256 in-batch targets);
- `20 uniform`: the earlier default (20 uniform shared negatives, no in-batch);
- `no accidental-hit mask`, `no log-Q`: the loss without that term (not an estimator to train
  with: what the term costs);
- `table frozen for the loss`: no gradient from the loss into the item table and the bias
  (what the candidates' scatter into the dense `[C, D]` gradient costs);
- `no dropout`: `dropout` and `embedding_dropout` 0.

Per variant: CPU milliseconds per step (`time.process_time`, all threads of this process),
events per CPU-second, and the ratio to `default` in the same run: the ratio is what carries
over; the milliseconds depend on the load of a shared machine.

    setsid bash -c 'echo 5 > /proc/$$/autogroup; exec nice -n 5 python benchmarks/bench_loss_variants.py \\
        --data quarter_prep --batch-size 64 --steps 10'
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
from keras import ops  # noqa: E402

import hiertcn_keras.models.recommender as recommender  # noqa: E402
from _common import emit_json  # noqa: E402
from bench_step_profile import profile  # noqa: E402
from hiertcn_keras.data.dataset import PreparedDataset  # noqa: E402
from hiertcn_keras.losses import log_expected_counts  # noqa: E402

NO_DROPOUT = {"dropout": 0.0, "embedding_dropout": 0.0}
OLD_DEFAULT = {"n_negatives": 20, "negative_distribution": "uniform", "in_batch_negatives": False}


def _top_k_in_batch(self, sampled, targets, weight):
    """`Recommender._with_in_batch` as first written: a `top_k` over uniform keys."""
    scored = weight > 0
    m = self.model_config.n_negatives
    noise = keras.random.uniform(ops.shape(weight), seed=self.sampler.seed_generator)
    keys = ops.concatenate([ops.cast(scored, "float32") * 2.0 + noise, ops.full((m,), -1.0)])
    _, picked = ops.top_k(keys, m)
    in_batch = ops.take(ops.concatenate([targets, ops.zeros((m,), dtype=targets.dtype)]), picked)
    in_batch_valid = ops.take(ops.concatenate([scored, ops.zeros((m,), dtype="bool")]), picked)
    n_batch = ops.sum(ops.cast(in_batch_valid, "float32"))

    def log_count(ids):
        return log_expected_counts(self.sampler.log_q(ids), m, self.target_prior.log_q(ids), n_batch)

    candidates = ops.concatenate([sampled, in_batch])
    valid = ops.concatenate([ops.ones_like(sampled, dtype="bool"), in_batch_valid])
    return candidates, log_count(candidates), log_count(targets), valid


def _loss_without(**changes):
    """`sampled_softmax_loss` with some of its terms removed (`changes` of its arguments)."""
    loss = recommender.sampled_softmax_loss

    def patched(u, targets, weights, bias, sampled, sampled_log_q=None, target_log_q=None, mask=None, **kwargs):
        if changes.get("log_q") is False:
            sampled_log_q = target_log_q = None
        if changes.get("table") is False:
            weights, bias = ops.stop_gradient(weights), ops.stop_gradient(bias)
        if changes.get("hits") is False:
            kwargs["remove_accidental_hits"] = False
        return loss(u, targets, weights, bias, sampled, sampled_log_q, target_log_q, mask, **kwargs)

    return patched


#: name → (ModelConfig overrides, {attribute of `recommender`: replacement} or None).
VARIANTS = {
    "default": ({}, None),
    "top_k pick": ({}, {"Recommender._with_in_batch": _top_k_in_batch}),
    "top_k pick, no dropout": (NO_DROPOUT, {"Recommender._with_in_batch": _top_k_in_batch}),
    "no in-batch": ({"in_batch_negatives": False}, None),
    "256 shared + in-batch": ({"n_negatives": 256}, None),
    "20 uniform": (OLD_DEFAULT, None),
    "no accidental-hit mask": ({}, {"sampled_softmax_loss": _loss_without(hits=False)}),
    "no log-Q": ({}, {"sampled_softmax_loss": _loss_without(log_q=False)}),
    "table frozen for the loss": ({}, {"sampled_softmax_loss": _loss_without(table=False)}),
    "no dropout": (NO_DROPOUT, None),
}


@contextlib.contextmanager
def _patched(replacements):
    """Set `recommender.<dotted name>` for the duration (the step is traced inside)."""
    saved = []
    for dotted, value in (replacements or {}).items():
        owner_name, _, attribute = dotted.rpartition(".")
        owner = getattr(recommender, owner_name) if owner_name else recommender
        saved.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, value)
    try:
        yield
    finally:
        for owner, attribute, value in reversed(saved):
            setattr(owner, attribute, value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared dataset folder (a large catalogue)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed (compiling) steps first (default 2)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        metavar="NAME", help=f"variants, in this order (default all: {', '.join(VARIANTS)})")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)

    dataset = PreparedDataset(args.data)
    print(f"{len(dataset.view('train')):,} training events, catalogue {dataset.n_catalogue:,}, batch {args.batch_size}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    print("| variant | CPU ms/step | events/step | events per CPU-second | CPU time / default's |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        for name in args.variants:
            overrides, replacements = VARIANTS[name]
            with _patched(replacements):
                (row,) = profile(dataset, args.batch_size, args.steps, args.warmup, dict(overrides), False,
                                 parts=("adam",), layout="packed")
            row["name"] = name
            rows.append(row)
            base = next((r for r in rows if r["name"] == "default"), None)
            ratio = f"{row['cpu_ms_per_step'] / base['cpu_ms_per_step']:.2f}" if base else ""
            print(f"| {name} | {row['cpu_ms_per_step']:,} | {row['events_per_step']:,} | "
                  f"{row['events_per_cpu_s']:,} | {ratio} |", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    emit_json(rows, args.json)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
