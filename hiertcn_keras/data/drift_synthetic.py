"""A second synthetic click log, written independently of `synthetic.py`, with other assumptions.

`synthetic.py` draws items from discrete topics with one fixed successor per item and a
catalogue that exists from the start. This generator instead assumes what a news or media
feed looks like, so that a model tuned on one cannot win on the other by construction:

- **Continuous interests.** Items are unit vectors `x_j` in a `dim`-dimensional latent space
  (no topics). A user's long-term interest `u` is a unit vector that **drifts** by a random
  walk after every session: `u ← normalise(u + interest_drift · ε)`, `ε ~ N(0, I / dim)`.
  A session's intent is `normalise(u + session_noise · ε')`.
- **Zipf popularity and freshness.** Item j has a base weight `(rank_j + 1) ** -zipf_exponent`
  (ranks a seeded permutation) and loses `exp(-age / freshness_days)` with age (freshness off
  with `freshness_days = 0`).
- **Item births.** A share `initial_share` of the items exists at `start_time`; the others are
  born uniformly over `span_days`. No item is clicked before its birth.
- **Clicks.** Each click, given the state, is
  - with probability `p_repeat` (when the user has clicked anything before) a **repeat**: an
    item drawn from the user's earlier clicks, in proportion to how often they were clicked;
  - with probability `p_chain` (not for a session's first click) a **successor** of the
    previous item: each item has `n_successors` successors chosen among the items born no
    later than it and close to it in the latent space, drawn with weights
    `successor_decay ** k` (k = 0, 1, ...);
  - otherwise a draw from the alive items with probability ∝
    `weight_j · freshness_j · exp(sharpness · ⟨intent, x_j⟩)`.
- **Sizes and time.** Sessions per user `1 + Poisson(mean_sessions - 1)` (capped), clicks per
  session `1 + Poisson(mean_session_len - 1)` (capped); users start uniformly over `span_days`;
  clicks `Exponential(mean_click_gap_s)` apart (clipped to `[1, max_click_gap_s]`), sessions
  `session_gap_s + Exponential(mean_session_gap_h hours)` apart, so a 30-minute idle-gap
  sessionizer recovers the sessions.

**Oracle.** The exact next-click distribution given the latent state (intent, history,
previous item, click time):

    P(j) = r · H(j) + c · S_prev(j) + (1 - r - c) · softmax_alive(j)

with `r = p_repeat` if the user has history else 0, `c = p_chain` inside a session else 0,
`H` the user's click frequencies so far and `S_prev` the successor weights of the previous
item. `oracle_rank` is the conservative rank of the clicked item over all items.

Output: the generic log (`user_id,item_id,timestamp`, sorted by time then user) and
the sidecars written by `drift_synthetic_io.save_drift`: `<stem>.generator.json` (format
`hiertcn-drift-synthetic`) and `<stem>.oracle.parquet` (`user_id`, `item_id`, `timestamp`,
`true_session`, `click_kind` (0 popularity/interest, 1 repeat, 2 successor), `oracle_rank`,
`oracle_prob`), readable by `hiertcn compare --oracle-log`.

Example:

>>> log = generate_drift(DriftConfig(n_users=30, n_items=80))
>>> list(log.events.columns)
['user_id', 'item_id', 'timestamp']
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

KIND_INTEREST, KIND_REPEAT, KIND_CHAIN = 0, 1, 2
_CELLS_PER_CHUNK = 1 << 22  # rows × n_items of one dense block


@dataclasses.dataclass(frozen=True)
class DriftConfig:
    """Parameters of the drift generator (see the module docstring).

    Args:
        n_users: int. Defaults to 2000.
        n_items: int. Defaults to 2000.
        seed: int ≥ 0. Defaults to 11.
        dim: int. Latent dimension. Defaults to 8.
        sharpness: float ≥ 0. Weight of `⟨intent, x_j⟩` in the interest draw. Defaults to 8.
        zipf_exponent: float ≥ 0. Defaults to 1.0.
        interest_drift: float ≥ 0. Random-walk step of the long-term interest per session.
            Defaults to 0.4.
        session_noise: float ≥ 0. Spread of a session's intent around the interest. Defaults to 0.5.
        p_repeat: float. Probability of a repeat click (given history). Defaults to 0.15.
        p_chain: float. Probability of a successor click (inside a session). `p_repeat +
            p_chain ≤ 1`. Defaults to 0.3.
        n_successors: int. Successors per item. Defaults to 3.
        successor_decay: float in (0, 1]. Weight ratio of consecutive successors. Defaults to 0.5.
        initial_share: float in (0, 1]. Share of items alive at the start. Defaults to 0.5.
        freshness_days: float ≥ 0. Age scale of the freshness decay (0: off). Defaults to 5.
        mean_sessions: float ≥ 1. Defaults to 6.
        max_sessions: int. Defaults to 40.
        mean_session_len: float ≥ 1. Defaults to 5.
        max_session_len: int. Defaults to 30.
        start_time: int. Unix seconds. Defaults to 1609459200 (2021-01-01 UTC).
        span_days: float > 0. Defaults to 28.
        mean_click_gap_s: float > 0. Defaults to 45.
        max_click_gap_s: int < session_gap_s. Defaults to 1500.
        session_gap_s: int. Defaults to 1800.
        mean_session_gap_h: float ≥ 0. Defaults to 30.
    """

    n_users: int = 2000
    n_items: int = 2000
    seed: int = 11
    dim: int = 8
    sharpness: float = 8.0
    zipf_exponent: float = 1.0
    interest_drift: float = 0.4
    session_noise: float = 0.5
    p_repeat: float = 0.15
    p_chain: float = 0.3
    n_successors: int = 3
    successor_decay: float = 0.5
    initial_share: float = 0.5
    freshness_days: float = 5.0
    mean_sessions: float = 6.0
    max_sessions: int = 40
    mean_session_len: float = 5.0
    max_session_len: int = 30
    start_time: int = 1_609_459_200
    span_days: float = 28.0
    mean_click_gap_s: float = 45.0
    max_click_gap_s: int = 1500
    session_gap_s: int = 1800
    mean_session_gap_h: float = 30.0

    def __post_init__(self):
        for name, field in self.__dataclass_fields__.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            if field.type in ("int", int) and int(value) != value:
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value < 0:
                raise ValueError(f"{name} must be ≥ 0, got {value!r}")
        for name in ("n_users", "dim", "n_successors", "max_sessions", "max_session_len",
                     "max_click_gap_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("p_repeat", "p_chain"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.p_repeat + self.p_chain > 1:
            raise ValueError(f"p_repeat + p_chain must be ≤ 1, got {self.p_repeat} + {self.p_chain}")
        if not 0 < self.successor_decay <= 1 or not 0 < self.initial_share <= 1:
            raise ValueError("successor_decay and initial_share must lie in (0, 1]")
        if int(self.n_items * self.initial_share) < self.n_successors + 1:
            raise ValueError(f"the initial catalogue (n_items · initial_share = "
                             f"{self.n_items * self.initial_share:g}) must hold more than n_successors = "
                             f"{self.n_successors} items")
        for name in ("mean_sessions", "mean_session_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.span_days <= 0 or self.mean_click_gap_s <= 0:
            raise ValueError("span_days and mean_click_gap_s must be > 0")
        if self.max_click_gap_s >= self.session_gap_s:
            raise ValueError(f"max_click_gap_s must be < session_gap_s = {self.session_gap_s}, got {self.max_click_gap_s}")


@dataclasses.dataclass
class DriftLog:
    """A generated log with its latent catalogue and oracle.

    Args:
        events: DataFrame `user_id`, `item_id`, `timestamp` sorted by (timestamp, user_id).
        item_vectors: float `[n_items + 1, dim]` (row 0 unused).
        item_birth: int `[n_items + 1]` birth time (Unix seconds) of each item id.
        successors: int `[n_items + 1, n_successors]` successor item ids.
        config: `DriftConfig`.
        oracle: DataFrame aligned with `events` (see the module docstring).
    """

    events: pd.DataFrame
    item_vectors: np.ndarray
    item_birth: np.ndarray
    successors: np.ndarray
    config: DriftConfig
    oracle: pd.DataFrame


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _catalogue(config, rng):
    n = config.n_items
    x = _unit(rng.normal(size=(n, config.dim)))
    weight = (rng.permutation(n) + 1.0) ** -config.zipf_exponent
    n_initial = int(n * config.initial_share)
    span = config.span_days * 86400.0
    birth = np.full(n, float(config.start_time))
    birth[n_initial:] = config.start_time + np.sort(rng.uniform(0, span, n - n_initial))
    # Successors: among items born no later (items are in birth order), the closest with noise.
    successors = np.empty((n, config.n_successors), dtype=np.int64)
    chunk = max(1, _CELLS_PER_CHUNK // n)
    for lo in range(0, n, chunk):
        rows = np.arange(lo, min(lo + chunk, n))
        score = x[rows] @ x.T + 0.3 * rng.gumbel(size=(len(rows), n))
        later = np.arange(n)[None, :] > np.maximum(rows, n_initial - 1)[:, None]
        score[later] = -np.inf
        score[np.arange(len(rows)), rows] = -np.inf
        top = np.argpartition(-score, config.n_successors - 1, axis=1)[:, : config.n_successors]
        order = np.argsort(-np.take_along_axis(score, top, axis=1), axis=1, kind="stable")
        successors[rows] = np.take_along_axis(top, order, axis=1)
    succ_weight = config.successor_decay ** np.arange(config.n_successors)
    return x, weight, birth, successors, succ_weight / succ_weight.sum()


def _times(config, rng, n_users):
    n_sessions = np.minimum(1 + rng.poisson(config.mean_sessions - 1, n_users), config.max_sessions)
    total = int(n_sessions.sum())
    lengths = np.minimum(1 + rng.poisson(config.mean_session_len - 1, total), config.max_session_len)
    gaps = config.session_gap_s + rng.exponential(config.mean_session_gap_h * 3600.0, total)
    starts = np.empty(total)
    offset = np.cumsum(n_sessions) - n_sessions
    user_start = config.start_time + rng.uniform(0, config.span_days * 86400.0, n_users)
    click_gaps = np.clip(np.rint(rng.exponential(config.mean_click_gap_s, int(lengths.sum()))), 1,
                         config.max_click_gap_s)
    ev_offset = np.cumsum(lengths) - lengths
    click_gaps[ev_offset] = 0
    within = np.cumsum(click_gaps)
    within = within - np.repeat(within[ev_offset], lengths)
    duration = within[ev_offset + lengths - 1]
    for u in range(n_users):  # sessions of a user follow each other
        s0, s1 = offset[u], offset[u] + n_sessions[u]
        advance = np.r_[0.0, duration[s0 : s1 - 1] + gaps[s0 + 1 : s1]]
        starts[s0:s1] = user_start[u] + np.cumsum(advance)
    timestamp = np.floor(np.repeat(starts, lengths) + within).astype(np.int64)
    return n_sessions, lengths, timestamp


def _softmax_probs(config, cat, intent, t):
    """Interest draw probabilities `[r, n]` of sessions with intents `[r, dim]` at times `[r]`."""
    x, weight, birth = cat[:3]
    logits = config.sharpness * (intent @ x.T) + np.log(weight)[None, :]
    age_days = (t[:, None] - birth[None, :]) / 86400.0
    if config.freshness_days > 0:
        logits = logits - np.maximum(age_days, 0.0) / config.freshness_days
    logits[age_days < 0] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def generate_drift(config=None, *, with_oracle=True):
    """Generate a drift log (see the module docstring).

    Args:
        config: `DriftConfig` or `None` for the defaults.
        with_oracle: bool. Compute `oracle_rank` and `oracle_prob`. The log itself does not
            depend on it. Defaults to `True`.

    Returns:
        `DriftLog`. The same config always gives the identical log.
    """
    config = DriftConfig() if config is None else config
    if not isinstance(config, DriftConfig):
        raise ValueError(f"config must be a DriftConfig, got {type(config).__name__}")
    rng = np.random.default_rng(config.seed)
    cat = _catalogue(config, rng)
    x, _, _, successors, succ_w = cat
    n, n_users = config.n_items, config.n_users
    n_sessions, lengths, timestamp = _times(config, rng, n_users)
    total_sessions = len(lengths)
    sess_offset = np.cumsum(n_sessions) - n_sessions
    ev_offset = np.cumsum(lengths) - lengths
    n_events = int(lengths.sum())
    items = np.empty(n_events, dtype=np.int64)
    kinds = np.empty(n_events, dtype=np.int8)
    ranks = np.zeros(n_events, dtype=np.int64) if with_oracle else None
    probs = np.zeros(n_events) if with_oracle else None
    max_hist = int(np.add.reduceat(lengths, sess_offset).max())
    history = np.zeros((n_users, max_hist), dtype=np.int64)
    hist_len = np.zeros(n_users, dtype=np.int64)
    interest = _unit(rng.normal(size=(n_users, config.dim)))
    for s in range(int(n_sessions.max())):
        users = np.flatnonzero(n_sessions > s)
        sess = sess_offset[users] + s
        if s > 0:
            interest[users] = _unit(interest[users] + config.interest_drift
                                    * rng.normal(size=(len(users), config.dim)) / np.sqrt(config.dim))
        intent = _unit(interest[users] + config.session_noise * rng.normal(size=(len(users), config.dim))
                       / np.sqrt(config.dim))
        prev = np.full(len(users), -1, dtype=np.int64)
        for step in range(int(lengths[sess].max())):
            act = np.flatnonzero(lengths[sess] > step)
            u, ev = users[act], ev_offset[sess[act]] + step
            t = timestamp[ev].astype(np.float64)
            has_hist, inside = hist_len[u] > 0, step > 0
            draw = rng.random(len(act))
            kind = np.full(len(act), KIND_INTEREST, dtype=np.int8)
            kind[has_hist & (draw < config.p_repeat)] = KIND_REPEAT
            if inside:
                kind[(draw >= config.p_repeat) & (draw < config.p_repeat + config.p_chain)] = KIND_CHAIN
            pick_hist = (rng.random(len(act)) * np.maximum(hist_len[u], 1)).astype(np.int64)
            pick_succ = rng.choice(config.n_successors, size=len(act), p=succ_w)
            gumbel_rows = []
            clicked = np.empty(len(act), dtype=np.int64)
            chunk = max(1, _CELLS_PER_CHUNK // n)
            for lo in range(0, len(act), chunk):
                sl = slice(lo, lo + chunk)
                p = _softmax_probs(config, cat, intent[act[sl]], t[sl])
                with np.errstate(divide="ignore"):
                    g = np.log(p) + rng.gumbel(size=p.shape)
                clicked[sl] = np.argmax(g, axis=1)
                gumbel_rows.append(p)
            rep = kind == KIND_REPEAT
            clicked[rep] = history[u[rep], pick_hist[rep]]
            chn = kind == KIND_CHAIN
            clicked[chn] = successors[prev[act[chn]], pick_succ[chn]]
            if with_oracle:
                r = np.where(has_hist, config.p_repeat, 0.0)
                c = config.p_chain if inside else 0.0
                for lo, p in zip(range(0, len(act), chunk), gumbel_rows):
                    sl = slice(lo, lo + len(p))
                    rows = np.arange(len(p))
                    full = (1.0 - r[sl] - c)[:, None] * p
                    for k, (uu, hl) in enumerate(zip(u[sl], hist_len[u[sl]])):
                        if hl:
                            full[k] += r[sl][k] * np.bincount(history[uu, :hl], minlength=n) / hl
                    if inside:
                        for j in range(config.n_successors):
                            np.add.at(full, (rows, successors[prev[act[sl]], j]), c * succ_w[j])
                    p_click = full[rows, clicked[sl]]
                    ranks[ev[sl]] = (full >= p_click[:, None]).sum(axis=1)
                    probs[ev[sl]] = p_click
            items[ev], kinds[ev] = clicked, kind
            history[u, hist_len[u]] = clicked
            hist_len[u] += 1
            prev[act] = clicked
    user = np.repeat(np.repeat(np.arange(1, n_users + 1), n_sessions), lengths)
    true_session = np.repeat(np.arange(total_sessions) - np.repeat(sess_offset, n_sessions), lengths)
    order = np.lexsort((user, timestamp))
    events = pd.DataFrame({"user_id": user[order], "item_id": items[order] + 1, "timestamp": timestamp[order]})
    oracle = events.copy()
    oracle["true_session"] = true_session[order].astype(np.int32)
    oracle["click_kind"] = kinds[order]
    if with_oracle:
        oracle["oracle_rank"] = ranks[order]
        oracle["oracle_prob"] = probs[order]
    vectors = np.vstack([np.zeros((1, config.dim)), x])
    birth = np.r_[0, cat[2].astype(np.int64)]
    succ_ids = np.vstack([np.zeros((1, config.n_successors), dtype=np.int64), successors + 1])
    return DriftLog(events, vectors, birth, succ_ids, config, oracle)
