"""`ModelConfig`: every setting of a model, frozen and recorded in the run directory.

The architecture follows the official HierTCN code (docs/concepts.md#official-code-settings):
10 sessions per batch row, item embedding 128, high-level GRU 2×128, TCN channels [128, 128] with
kernel 5 and dilations 1, 2, 4, …; flat TCN [128, 128, 128, 128, 256, 256]; flat GRU 2×200. The
training defaults come from the sweep in docs/tuning.md (the official code's were 32 rows,
learning rate 1e-3, no dropout, an untied output table): 8 rows per batch, learning rate 3e-3
(with the plateau schedule of `TrainConfig`), dropout 0.1 inside the network and on the input
item vectors, and tied input/output item tables in the learned space.
"""

from __future__ import annotations

import dataclasses
import math

from hiertcn_keras.models.loss_choice import default_loss, default_negatives

HIERARCHICAL_MODELS = ("hiertcn", "hiergru", "hrnn")
# The models with the last-item residual path (on by default; `ModelConfig.last_item_residual`).
RESIDUAL_MODELS = ("hiertcn", "hiergru")
FLAT_MODELS = ("tcn", "gru", "gru4rec")
NEURAL_MODELS = HIERARCHICAL_MODELS + FLAT_MODELS
ITEM_SPACES = ("learned", "pretrained")
LEARNED_LOSSES = ("softmax", "sampled_softmax")
PRETRAINED_LOSSES = ("l2", "nce", "bpr", "hinge", "hinge_logsigmoid")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Settings of a neural model.

    Args:
        model: str. One of `hiertcn`, `hiergru`, `hrnn`, `tcn`, `gru`, `gru4rec`.
        n_items: int. Vocabulary size including index 0.
        n_catalogue: int. Items `1..n_catalogue` are rankable (seen in training).
        item_space: str. `learned` (ids, a softmax over an output item table) or `pretrained`
            (frozen item vectors as inputs and targets). Defaults to `learned`.
        loss: str or `None`. `softmax`/`sampled_softmax` (learned) or `l2`/`nce`/`bpr`/`hinge`/
            `hinge_logsigmoid` (pretrained). `None` picks by `loss_choice.default_loss`: in the
            learned space `softmax` below `loss_choice.SAMPLED_SOFTMAX_FROM` catalogue items and
            `sampled_softmax` from it on (a measured crossover, docs/scale.md), and always
            `sampled_softmax` for `gru4rec` (as GRU4Rec trains); `hinge` (the paper's best) in
            the pretrained space.
        loss_by_default: bool. Whether `loss` was picked by that rule rather than given; set
            by the constructor when `loss` is `None` (recorded, so a saved config says why its
            loss was used). Defaults to `False`.
        n_negatives: int or `None`. K sampled negatives (pairwise losses) or M shared
            negatives (sampled softmax). `None` picks by `loss_choice.default_negatives`: 1,024
            for the sampled softmax in the learned space, 512 for `gru4rec`, else 20.
        negative_distribution: str or `None`. `uniform` or `popularity` (count^alpha). `None`
            picks `popularity` for the sampled softmax in the learned space and for `gru4rec`
            (GRU4Rec's sampling), else `uniform`.
        alpha: float. Popularity exponent. Defaults to 0.75.
        in_batch_negatives: bool or `None`. Sampled softmax only: the batch's other targets
            (up to `n_negatives` of them, a random subset when there are more) are candidates
            too, beside the shared negatives, every candidate log-Q corrected by its expected
            count under both proposals (`losses.sampling.log_expected_counts`) and the
            event's own target removed. `None` picks it for the sampled softmax in the
            learned space (not `gru4rec`). Defaults to `None`.
        embedding_dim: int. Item embedding size (learned space). Defaults to 128.
        high_units: tuple. High-level GRU units. Defaults to `(128, 128)`.
        tcn_channels: tuple. Session TCN channels. Defaults to `(128, 128)`.
        kernel_size: int. TCN kernel. Defaults to 5.
        tcn_variant: str. `official` (one conv per block) or `bai`. Defaults to `official`.
        low_gru_units: tuple. HierGRU's session GRU. Defaults to `(128, 128)`.
        hrnn_units: int. HRNN session and user GRU units. Defaults to 128.
        flat_tcn_channels: tuple. Defaults to `(128, 128, 128, 128, 256, 256)`.
        flat_gru_units: tuple. Defaults to `(200, 200)`.
        gru4rec_units: tuple. GRU4Rec's session GRU. Defaults to `(100,)` (GRU4Rec's default).
        output_dim: int or `None`. User-embedding size; the pretrained space forces the item
            vectors' dimension. Defaults to `embedding_dim`.
        decay_bandwidth: float or `None`. Optional high-level state decay (seconds).
        last_item_residual: bool or `None`. HierTCN / HierGRU only: add a linear map of the
            current (last clicked) item's embedding to the user embedding,
            `u = Dense(h) + W · e_last`, so the model can score "what follows this item"
            directly, beside the session and long-term paths. `None` turns it on for HierTCN
            and HierGRU and off for every other model; `False` is the paper's plain model. A
            config recorded without the field (before it existed) loads as `False`. Defaults
            to `None`.
        dropout: float in `[0, 1)`. Dropout inside the low-level network (TCN blocks, session
            and flat GRUs, HRNN's session GRU), training only. Defaults to 0.1.
        embedding_dropout: float in `[0, 1)`. Dropout on the looked-up input item vectors
            (learned item space), training only. Defaults to 0.1.
        tied_embeddings: bool or `None`. Score with the input item table (GRU4Rec's
            "constrained embedding"): logits = u · E_in[:C+1]ᵀ + b, no separate output table;
            learned item space only, and needs `output_dim == embedding_dim`. `None` ties
            wherever that is possible. Defaults to `None`.
        batch_size: int. B rows (queues). Defaults to 8; `trainer.model_config_for` picks it
            from the number of training events for hierarchical models
            (`batch_choice.default_batch_size`: 8 up to 200,000 events, doubling with the log up
            to 64) and scales the default learning rate with it.
        batch_by_default: bool. Whether `batch_size` (and, unless given, `learning_rate`) was
            picked by that rule rather than given (recorded, so a saved config says why).
            Defaults to `False`.
        sessions_per_batch: int. S session slots per row. Defaults to 10.
        max_session_len: int. L. Defaults to 20.
        flat_len: int. T of the flat TCN: its history window (the official cap). Defaults to 500.
        flat_packed: bool. The flat TCN reads packed rows (users' history windows laid end to
            end, the receptive field cut at each user boundary) instead of one window per row;
            same scores, far less padding. Defaults to `True` (`False` for configs recorded
            before it existed, whose models read one window per row).
        packed_sessions: bool or `None`. HierTCN only: train on packed rows (the batch's
            sessions laid end to end, `hiertcn_keras.models.packed_hiertcn`) instead of
            `[B, S, L]` slots; the same scores and loss (to float rounding), several times less
            work on logs of short sessions. Evaluation and serving read the padded layout either
            way. `None` packs for `hiertcn` (`False` for configs recorded before it existed).
        gru_chunk_len: int. T of the flat GRU and of GRU4Rec: they read the whole history (or
            session-parallel lanes) in chunks of this many events with the state carried
            between chunks, so the forward pass equals one pass over the whole sequence
            (gradients are truncated to a chunk). Defaults to 50.
        learning_rate: float. Adam / AdamW (the initial rate of the schedule). Defaults to 3e-3.
        weight_decay: float ≥ 0. Decoupled weight decay; > 0 trains with AdamW instead of Adam
            (see `hiertcn_keras.training.optimizers`). Defaults to 0.
        seed: int. Defaults to 0.
        recency_prior: bool. Add the causal recency-popularity prior `beta · log1p(clicks of the
            candidate in the `recency_hours` before the event)` to every score in evaluation
            (`hiertcn_keras.models.recency_prior`). Defaults to `False`.
        recency_hours: float > 0 or `None`. The prior's window; `None` = chosen on the
            validation split after training. Defaults to `None`.
        recency_beta: float ≥ 0 or `None`. The prior's weight (0 = the plain model); `None` =
            chosen on the validation split after training. Defaults to `None`.
        transition_prior: bool. Add the causal transition-count prior `gamma · log1p(times the
            candidate directly followed the current item in a session, before the event)` to
            every score in evaluation and serving (`hiertcn_keras.models.transition_prior`).
            Defaults to `False`.
        transition_gamma: float ≥ 0 or `None`. Its weight (0 = the plain model); `None` = chosen
            on the validation split after training, jointly with the recency prior. Defaults to
            `None`.
    """

    model: str = "hiertcn"
    n_items: int = 0
    n_catalogue: int = 0
    item_space: str = "learned"
    loss: str | None = None
    loss_by_default: bool = False
    n_negatives: int | None = None
    negative_distribution: str | None = None
    alpha: float = 0.75
    in_batch_negatives: bool | None = None
    embedding_dim: int = 128
    high_units: tuple = (128, 128)
    tcn_channels: tuple = (128, 128)
    kernel_size: int = 5
    tcn_variant: str = "official"
    low_gru_units: tuple = (128, 128)
    hrnn_units: int = 128
    flat_tcn_channels: tuple = (128, 128, 128, 128, 256, 256)
    flat_gru_units: tuple = (200, 200)
    gru4rec_units: tuple = (100,)
    output_dim: int | None = None
    decay_bandwidth: float | None = None
    last_item_residual: bool | None = None
    dropout: float = 0.1
    embedding_dropout: float = 0.1
    tied_embeddings: bool | None = None
    batch_size: int = 8
    batch_by_default: bool = False
    sessions_per_batch: int = 10
    max_session_len: int = 20
    flat_len: int = 500
    flat_packed: bool = True
    packed_sessions: bool | None = None
    gru_chunk_len: int = 50
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0
    recency_prior: bool = False
    recency_hours: float | None = None
    recency_beta: float | None = None
    transition_prior: bool = False
    transition_gamma: float | None = None

    def __post_init__(self):
        if self.model not in NEURAL_MODELS:
            raise ValueError(f"model must be one of {NEURAL_MODELS}, got {self.model!r}")
        if self.item_space not in ITEM_SPACES:
            raise ValueError(f"item_space must be one of {ITEM_SPACES}, got {self.item_space!r}")
        if self.loss is None:
            object.__setattr__(self, "loss", default_loss(self.item_space, self.n_catalogue, self.model))
            object.__setattr__(self, "loss_by_default", True)
        defaults = default_negatives(self.item_space, self.loss, self.model)
        for name, value in zip(("n_negatives", "negative_distribution", "in_batch_negatives"), defaults):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "in_batch_negatives", bool(self.in_batch_negatives))
        allowed = LEARNED_LOSSES if self.item_space == "learned" else PRETRAINED_LOSSES
        if self.loss not in allowed:
            raise ValueError(f"loss for the {self.item_space} item space must be one of {allowed}, got {self.loss!r}")
        if self.n_items < 2 or not 1 <= self.n_catalogue < self.n_items:
            raise ValueError(f"need n_items ≥ 2 and 1 ≤ n_catalogue < n_items, got {self.n_items}, {self.n_catalogue}")
        for name in ("high_units", "tcn_channels", "low_gru_units", "flat_tcn_channels", "flat_gru_units",
                     "gru4rec_units"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        for name in ("batch_size", "sessions_per_batch", "max_session_len", "flat_len", "gru_chunk_len", "n_negatives", "kernel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a finite number > 0, got {self.learning_rate}")
        if self.decay_bandwidth is not None and not (math.isfinite(self.decay_bandwidth) and self.decay_bandwidth > 0):
            raise ValueError(f"decay_bandwidth must be a finite number of seconds > 0, got {self.decay_bandwidth}")
        if self.packed_sessions is None:
            object.__setattr__(self, "packed_sessions", self.model == "hiertcn")
        if self.packed_sessions and self.model != "hiertcn":
            raise ValueError(f"packed_sessions needs model hiertcn, got {self.model!r}")
        if self.output_dim is None:
            object.__setattr__(self, "output_dim", self.embedding_dim)
        if self.tied_embeddings is None:
            tie = self.item_space == "learned" and self.output_dim == self.embedding_dim
            object.__setattr__(self, "tied_embeddings", tie)
        _check_regularisation(self)
        _check_recency(self)
        if self.in_batch_negatives and self.loss != "sampled_softmax":
            raise ValueError(f"in_batch_negatives needs loss sampled_softmax, got {self.loss!r}")
        if self.last_item_residual is None:
            object.__setattr__(self, "last_item_residual", self.model in RESIDUAL_MODELS)
        if self.last_item_residual and self.model not in RESIDUAL_MODELS:
            raise ValueError(f"last_item_residual needs model hiertcn or hiergru, got {self.model!r}")

    @property
    def hierarchical(self):
        return self.model in HIERARCHICAL_MODELS

    @property
    def flat_chunk_len(self):
        """T of the flat models' `[B, T]` batches: `gru_chunk_len` for the GRUs, else `flat_len`."""
        return self.gru_chunk_len if self.model in ("gru", "gru4rec") else self.flat_len

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        # A config recorded before a field existed meant that field's value of the time.
        values = {**LEGACY_VALUES, **values}
        return cls(**{k: v for k, v in values.items() if k in names})


# Fields added after configs were first recorded, with the value a config without them meant.
LEGACY_VALUES = {"last_item_residual": False, "embedding_dropout": 0.0, "tied_embeddings": False, "weight_decay": 0.0, "flat_packed": False,
                 "packed_sessions": False, "in_batch_negatives": False}


def _check_regularisation(config):
    """Validates the dropout, weight-decay and tying settings of a `ModelConfig`."""
    for name in ("dropout", "embedding_dropout"):
        if not 0.0 <= getattr(config, name) < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {getattr(config, name)}")
    if config.weight_decay < 0:
        raise ValueError(f"weight_decay must be ≥ 0, got {config.weight_decay}")
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {config.learning_rate}")
    if config.tied_embeddings:
        if config.item_space != "learned":
            raise ValueError("tied_embeddings needs the learned item space (the pretrained one is tied already)")
        if config.output_dim != config.embedding_dim:
            raise ValueError(f"tied_embeddings needs output_dim == embedding_dim, got {config.output_dim} "
                             f"and {config.embedding_dim}")


def _check_recency(config):
    """Validates the recency- and transition-prior settings of a `ModelConfig`."""
    hours, beta = config.recency_hours, config.recency_beta
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise ValueError(f"recency_hours must be a finite number of hours > 0, got {hours}")
    if beta is not None and not (math.isfinite(beta) and beta >= 0):
        raise ValueError(f"recency_beta must be a finite number ≥ 0, got {beta}")
    if (hours is not None or beta is not None) and not config.recency_prior:
        raise ValueError("recency_hours and recency_beta need recency_prior")
    gamma = config.transition_gamma
    if gamma is not None and not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"transition_gamma must be a finite number ≥ 0, got {gamma}")
    if gamma is not None and not config.transition_prior:
        raise ValueError("transition_gamma needs transition_prior")
