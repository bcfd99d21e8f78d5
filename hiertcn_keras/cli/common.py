"""What several verbs share: the help formatter and the model and training options."""

from __future__ import annotations

import argparse
import math


def formatter(prog):
    """The help layout of every verb: examples kept as written, wide option columns."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def _number(text, kind):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        name = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {name}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _checked(kind, accept, wording, doc):
    """An argparse type: `kind(text)` (finite, for floats) that `accept`s, else "must be WORDING"."""

    def parse(text):
        value = _number(text, kind)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {wording}, got {text!r}")
        return value

    parse.__doc__ = doc
    return parse


positive_int = _checked(int, lambda v: v >= 1, "an integer ≥ 1", "argparse type: an integer ≥ 1.")
non_negative_int = _checked(int, lambda v: v >= 0, "an integer ≥ 0", "argparse type: an integer ≥ 0.")
port_number = _checked(int, lambda v: 0 <= v <= 65535, "a port number in 0..65535",
                       "argparse type: a TCP port, 0 (any free port) to 65535.")
positive_float = _checked(float, lambda v: v > 0, "a finite number > 0",
                          "argparse type: a finite number > 0 (NaN and infinities refused).")
non_negative_float = _checked(float, lambda v: v >= 0, "a finite number ≥ 0", "argparse type: a finite number ≥ 0.")
dropout_rate = _checked(float, lambda v: 0 <= v < 1, "a number in [0, 1)", "argparse type: a dropout rate in [0, 1).")
recall_fraction = _checked(float, lambda v: 0 < v <= 1, "a number in (0, 1]",
                           "argparse type: a fraction in (0, 1] (a recall target).")
open_fraction = _checked(float, lambda v: 0 < v < 1, "a number strictly between 0 and 1",
                         "argparse type: a number strictly between 0 and 1 (a quantile).")


def unix_seconds(text):
    """argparse type: a Unix time in seconds inside `hiertcn_keras.limits`' plausible range."""
    from hiertcn_keras.limits import MAX_TIMESTAMP, MIN_TIMESTAMP

    value = _number(text, float)
    if not MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:
        hint = " (milliseconds? divide by 1000)" if MIN_TIMESTAMP <= value / 1000 <= MAX_TIMESTAMP else ""
        raise argparse.ArgumentTypeError(
            f"must be Unix seconds in {MIN_TIMESTAMP}..{MAX_TIMESTAMP} (1970..2100), got {text!r}{hint}")
    return value


def add_overwrite(p, what):
    """The `--overwrite` flag of a verb that writes a folder (see docs/safety.md)."""
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace --out even if it is not a {what} written by hiertcn (by default only an "
                   "empty folder or one of ours is replaced; an input is never)")


NEURAL = ("hiertcn", "hiergru", "hrnn", "tcn", "gru", "gru4rec")
# The simple baselines' names live in one registry (models/baselines.py); listed here without
# importing it so that `hiertcn --help` stays fast.
SIMPLE = ("mv", "maxitem", "pop", "sknn", "recentpop", "successor", "livesuccessor", "sr", "iknn", "vsknn")


def add_model_options(p, recency_default=False):
    g = p.add_argument_group("model")
    g.add_argument("--item-space", choices=("learned", "pretrained"), default="learned",
                   help="learned ids with a softmax output over them (default), or frozen pretrained vectors")
    g.add_argument("--item-embeddings", metavar="PATH", default=None,
                   help="item vectors for --item-space pretrained and the MV/MaxItem baselines: a store written "
                   "by `hiertcn embed-items`, or a .npy matrix [n_items, D] (or [n_items-1, D])")
    g.add_argument("--loss", default=None,
                   choices=("softmax", "sampled_softmax", "l2", "nce", "bpr", "hinge", "hinge_logsigmoid"),
                   help="default: by catalogue size in the learned item space, softmax below 20,000 items and "
                   "sampled_softmax from 20,000 (docs/scale.md; always sampled_softmax for "
                   "gru4rec); hinge (pretrained)")
    g.add_argument("--negatives", type=positive_int, default=None, metavar="K",
                   help="sampled negatives (default: 1,024 shared negatives for sampled_softmax, 512 for gru4rec, "
                   "20 for the pairwise losses)")
    g.add_argument("--negative-distribution", choices=("uniform", "popularity"), default=None,
                   help="default popularity^alpha for sampled_softmax and gru4rec, uniform for the pairwise losses")
    g.add_argument("--in-batch-negatives", action=argparse.BooleanOptionalAction, default=None,
                   help="sampled_softmax: up to --negatives of the batch's other targets are candidates too, "
                   "log-Q corrected by their expected count (default on for sampled_softmax, except gru4rec)")
    g.add_argument("--embedding-dim", type=positive_int, default=None, metavar="D", help="item embedding size (default 128)")
    g.add_argument("--tcn-channels", type=positive_int, nargs="+", default=None, metavar="C", help="default 128 128")
    g.add_argument("--high-units", type=positive_int, nargs="+", default=None, metavar="H", help="default 128 128")
    g.add_argument("--batch-size", type=positive_int, default=None, metavar="B", help="queues per batch (default 8)")
    g.add_argument("--sessions-per-batch", type=positive_int, default=None, metavar="S", help="default 10")
    g.add_argument("--learning-rate", type=positive_float, default=None, metavar="LR",
                   help="initial Adam/AdamW rate (default 3e-3)")
    add_regularisation_options(g)
    g.add_argument("--flat-rows", choices=("packed", "per-user"), default=None,
                   help="flat TCN (--model tcn): users' histories laid end to end in each row, the receptive field "
                   "cut at every user boundary (packed, the default: same scores, little padding), or one user's "
                   "window of 500 events per row (per-user)")
    g.add_argument("--session-rows", choices=("packed", "padded"), default=None,
                   help="HierTCN training batches: each row's sessions laid end to end, the TCN cut at every "
                   "session start (packed, the default: the same scores and loss, far less padding), or every "
                   "session in its own slot of the longest session's length (padded); evaluation and serving "
                   "are the same either way (docs/scale.md)")
    g.add_argument("--decay-bandwidth", type=positive_float, default=None, metavar="S",
                   help="high-level state decay exp(-gap/S) (default off)")
    g.add_argument("--last-item-residual", action=argparse.BooleanOptionalAction, default=None,
                   help="hiertcn/hiergru: add a linear map of the last clicked item's embedding to the user "
                   "embedding, a direct 'what follows this item' path; on by default for those two models (compare "
                   "applies it to them only); --no-last-item-residual trains the paper's plain model "
                   "(docs/accuracy.md)")
    add_recency_options(g, default_on=recency_default)
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=positive_int, default=50, help="maximum epochs; early stopping on the validation "
                   "split usually ends the run sooner (default 50)")
    t.add_argument("--patience", type=non_negative_int, default=3, help="early-stopping patience (default 3)")
    t.add_argument("--monitor", default="recall@10", help="validation metric for early stopping (default recall@10)")
    add_schedule_options(t)
    t.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
    t.add_argument("--no-jit", action="store_true", help="disable XLA compilation")
    t.add_argument("--quiet", action="store_true",
                   help="one line per epoch, and a progress line at least every minute, instead of progress bars")
    t.add_argument("--time-limit", type=positive_float, default=None, metavar="MINUTES",
                   help="stop training after this many minutes (at the end of the step that passes it); the "
                   "partial epoch is validated, the best weights kept, the test split scored and the run written "
                   "(default: no limit)")
    t.add_argument("--no-memory-check", action="store_true",
                   help="train even when the estimated peak of a step exceeds the available memory (docs/scale.md)")


def add_regularisation_options(g):
    """Dropout, weight decay and tying of the item tables (defaults: `ModelConfig`'s)."""
    g.add_argument("--dropout", type=dropout_rate, default=None, metavar="P",
                   help="dropout inside the low-level network: TCN blocks, GRUs (default 0.1)")
    g.add_argument("--embedding-dropout", type=dropout_rate, default=None, metavar="P",
                   help="dropout on the input item vectors, learned item space (default 0.1)")
    g.add_argument("--weight-decay", type=non_negative_float, default=None, metavar="WD",
                   help="decoupled weight decay; > 0 trains with AdamW (default 0)")
    g.add_argument("--tied-embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="score with the input item table (logits = u·E_in^T + b; needs --embedding-dim equal to the "
                   "output size) instead of a separate output table (default: tied in the learned item space)")


def add_recency_options(g, default_on=False):
    """The causal recency-popularity prior (`hiertcn_keras.models.recency_prior`).

    Args:
        g: the argument group.
        default_on: bool. On unless `--no-recency-prior` (`compare` and `tune`: the window and
            weight are chosen on validation, and beta 0 keeps the plain model); else off unless
            `--recency-prior` (`train`).
    """
    g.add_argument("--recency-prior", action=argparse.BooleanOptionalAction, default=True if default_on else None,
                   help="add beta * log1p(clicks of the item by everyone in the last HOURS before the event) to "
                   "every score; HOURS and beta are chosen on the validation split after training among settings "
                   "that lower neither validation Recall@10 nor MRR (beta 0 = the plain model), unless set below; "
                   "served as evaluated (docs/accuracy.md) "
                   + ("(default on for this verb; --no-recency-prior: the plain model)" if default_on else "(default off)"))
    g.add_argument("--recency-hours", type=positive_float, default=None, metavar="H",
                   help="the prior's window in hours (default: chosen on validation among 0.25 1 3 12 24 168)")
    g.add_argument("--recency-beta", type=non_negative_float, default=None, metavar="B",
                   help="the prior's weight (default: chosen on validation among 0 0.25 ... 32)")
    g.add_argument("--transition-prior", action=argparse.BooleanOptionalAction,
                   default=True if default_on else None,
                   help="add gamma * log1p(times the item directly followed the user's current item in a session, "
                   "counted over everyone's events before the event) to every score: a hybrid of the network and "
                   "successor counts; gamma is chosen on the validation split after training, jointly with the "
                   "recency prior, among settings that lower neither validation Recall@10 nor MRR (gamma 0 = the "
                   "plain model), unless set below; served as evaluated (docs/accuracy.md) "
                   + ("(default on for this verb; --no-transition-prior: without it)" if default_on else "(default off)"))
    g.add_argument("--transition-gamma", type=non_negative_float, default=None, metavar="G",
                   help="the transition prior's weight (default: chosen on validation among 0 0.25 ... 32)")


def recency_overrides(args):
    """`ModelConfig` keyword arguments of the recency- and transition-prior options (`None` = the default)."""
    on = getattr(args, "recency_prior", None)
    hours, beta = getattr(args, "recency_hours", None), getattr(args, "recency_beta", None)
    if on is None and (hours is not None or beta is not None):
        on = True  # a window or weight asks for the prior
    if on is False and (hours is not None or beta is not None):
        raise ValueError("--recency-hours and --recency-beta need the recency prior (drop --no-recency-prior)")
    steps, gamma = getattr(args, "transition_prior", None), getattr(args, "transition_gamma", None)
    if steps is None and gamma is not None:
        steps = True  # a weight asks for the prior
    if steps is False and gamma is not None:
        raise ValueError("--transition-gamma needs the transition prior (drop --no-transition-prior)")
    return {"recency_prior": on, "recency_hours": hours, "recency_beta": beta, "transition_prior": steps,
            "transition_gamma": gamma}


def add_schedule_options(t):
    """The learning-rate schedule (defaults: `TrainConfig`'s)."""
    t.add_argument("--lr-schedule", choices=("plateau", "constant"), default="plateau",
                   help="plateau: multiply the learning rate by --lr-factor after --lr-patience epochs "
                   "without improvement of --monitor (default plateau)")
    t.add_argument("--lr-factor", type=open_fraction, default=0.3, metavar="F", help="default 0.3")
    t.add_argument("--lr-patience", type=positive_int, default=1, metavar="N", help="default 1")


def schedule_overrides(args):
    """`TrainConfig` keyword arguments of the schedule options."""
    return {"lr_schedule": args.lr_schedule, "lr_factor": args.lr_factor, "lr_patience": args.lr_patience}


def regularisation_overrides(args):
    """`ModelConfig` keyword arguments of the regularisation options (`None` = the default)."""
    return {"dropout": args.dropout, "embedding_dropout": args.embedding_dropout,
            "weight_decay": args.weight_decay, "tied_embeddings": args.tied_embeddings}


def _residual_for(args, model):
    """`--last-item-residual` for `model`; `compare --models ...` applies it to HierTCN/HierGRU only."""
    residual = getattr(args, "last_item_residual", None)
    if residual and getattr(args, "models", None) and model not in ("hiertcn", "hiergru"):
        return None
    return residual


def _packed_sessions(args, model):
    """`--session-rows` for `model`; `compare --models ...` applies it to HierTCN only."""
    rows = getattr(args, "session_rows", None)
    if rows is None or (model != "hiertcn" and (getattr(args, "models", None) or model is None)):
        return None
    return rows == "packed"


def model_overrides(args, model):
    return {
        "model": model,
        "item_space": args.item_space,
        "loss": args.loss,
        "n_negatives": args.negatives,
        "negative_distribution": args.negative_distribution,
        "in_batch_negatives": getattr(args, "in_batch_negatives", None),
        "embedding_dim": args.embedding_dim,
        "tcn_channels": tuple(args.tcn_channels) if args.tcn_channels else None,
        "high_units": tuple(args.high_units) if args.high_units else None,
        "batch_size": args.batch_size,
        "sessions_per_batch": args.sessions_per_batch,
        "learning_rate": args.learning_rate,
        **regularisation_overrides(args),
        "decay_bandwidth": args.decay_bandwidth,
        "last_item_residual": _residual_for(args, model),
        "flat_packed": None if getattr(args, "flat_rows", None) is None else args.flat_rows == "packed",
        "packed_sessions": _packed_sessions(args, model),
        **recency_overrides(args),
        "seed": args.seed,
    }
