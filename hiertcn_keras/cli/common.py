"""What several verbs share: the help formatter and the model and training options."""

from __future__ import annotations

import argparse

def formatter(prog):
    """The help layout of every verb: examples kept as written, wide option columns."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


NEURAL = ("hiertcn", "hiergru", "hrnn", "tcn", "gru")
SIMPLE = ("mv", "maxitem", "pop", "sknn")


def add_model_options(p):
    g = p.add_argument_group("model")
    g.add_argument("--item-space", choices=("learned", "pretrained"), default="learned",
                   help="learned ids with a softmax output over them (default), or frozen pretrained vectors")
    g.add_argument("--item-embeddings", metavar="PATH", default=None,
                   help="item vectors for --item-space pretrained and the MV/MaxItem baselines: a store written "
                   "by `hiertcn embed-items`, or a .npy matrix [n_items, D] (or [n_items-1, D])")
    g.add_argument("--loss", default=None,
                   choices=("softmax", "sampled_softmax", "l2", "nce", "bpr", "hinge", "hinge_logsigmoid"),
                   help="default: softmax (learned) or hinge (pretrained)")
    g.add_argument("--negatives", type=int, default=None, metavar="K", help="sampled negatives (default 20)")
    g.add_argument("--negative-distribution", choices=("uniform", "popularity"), default=None)
    g.add_argument("--embedding-dim", type=int, default=None, metavar="D", help="item embedding size (default 128)")
    g.add_argument("--tcn-channels", type=int, nargs="+", default=None, metavar="C", help="default 128 128")
    g.add_argument("--high-units", type=int, nargs="+", default=None, metavar="H", help="default 128 128")
    g.add_argument("--batch-size", type=int, default=None, metavar="B", help="queues per batch (default 8)")
    g.add_argument("--sessions-per-batch", type=int, default=None, metavar="S", help="default 10")
    g.add_argument("--learning-rate", type=float, default=None, metavar="LR",
                   help="initial Adam/AdamW rate (default 3e-3)")
    add_regularisation_options(g)
    g.add_argument("--decay-bandwidth", type=float, default=None, metavar="S",
                   help="high-level state decay exp(-gap/S) (default off)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=50, help="maximum epochs; early stopping on the validation "
                   "split usually ends the run sooner (default 50)")
    t.add_argument("--patience", type=int, default=3, help="early-stopping patience (default 3)")
    t.add_argument("--monitor", default="recall@10", help="validation metric for early stopping (default recall@10)")
    add_schedule_options(t)
    t.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    t.add_argument("--no-jit", action="store_true", help="disable XLA compilation")
    t.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars")


def add_regularisation_options(g):
    """Dropout, weight decay and tying of the item tables (defaults: `ModelConfig`'s)."""
    g.add_argument("--dropout", type=float, default=None, metavar="P",
                   help="dropout inside the low-level network: TCN blocks, GRUs (default 0.1)")
    g.add_argument("--embedding-dropout", type=float, default=None, metavar="P",
                   help="dropout on the input item vectors, learned item space (default 0.1)")
    g.add_argument("--weight-decay", type=float, default=None, metavar="WD",
                   help="decoupled weight decay; > 0 trains with AdamW (default 0)")
    g.add_argument("--tied-embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="score with the input item table (logits = u·E_in^T + b; needs --embedding-dim equal to the "
                   "output size) instead of a separate output table (default: tied in the learned item space)")


def add_schedule_options(t):
    """The learning-rate schedule (defaults: `TrainConfig`'s)."""
    t.add_argument("--lr-schedule", choices=("plateau", "constant"), default="plateau",
                   help="plateau: multiply the learning rate by --lr-factor after --lr-patience epochs "
                   "without improvement of --monitor (default plateau)")
    t.add_argument("--lr-factor", type=float, default=0.3, metavar="F", help="default 0.3")
    t.add_argument("--lr-patience", type=int, default=1, metavar="N", help="default 1")


def schedule_overrides(args):
    """`TrainConfig` keyword arguments of the schedule options."""
    return {"lr_schedule": args.lr_schedule, "lr_factor": args.lr_factor, "lr_patience": args.lr_patience}


def regularisation_overrides(args):
    """`ModelConfig` keyword arguments of the regularisation options (`None` = the default)."""
    return {"dropout": args.dropout, "embedding_dropout": args.embedding_dropout,
            "weight_decay": args.weight_decay, "tied_embeddings": args.tied_embeddings}


def model_overrides(args, model):
    return {
        "model": model,
        "item_space": args.item_space,
        "loss": args.loss,
        "n_negatives": args.negatives,
        "negative_distribution": args.negative_distribution,
        "embedding_dim": args.embedding_dim,
        "tcn_channels": tuple(args.tcn_channels) if args.tcn_channels else None,
        "high_units": tuple(args.high_units) if args.high_units else None,
        "batch_size": args.batch_size,
        "sessions_per_batch": args.sessions_per_batch,
        "learning_rate": args.learning_rate,
        **regularisation_overrides(args),
        "decay_bandwidth": args.decay_bandwidth,
        "seed": args.seed,
    }
