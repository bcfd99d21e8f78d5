"""A synthetic click log whose users have hierarchical, sequential structure, and its oracle.

The embedded default dataset (`make train`, tests, benchmarks). It is built so that *hierarchy*
and *order* both carry signal: a hierarchical sequential model (HierTCN) should beat flat and
non-sequential baselines on it, and because the generator's latent state is known, every click
also gets an **oracle rank**, the rank it has under the true next-click distribution, which
bounds what any model can reach.

Output: the generic log format, one row per click, columns `user_id` (int, 1..n_users),
`item_id` (int, 1..n_items) and `timestamp` (int Unix seconds), sorted by
(`timestamp`, `user_id`) like a real log, so users interleave.

Generative model:

- **Items and topics.** `n_items` items are split into `n_topics` contiguous blocks of equal size
  (±1). Within a topic, the item of popularity rank r (0-based) has weight
  `(r + 1) ** -zipf_exponent`, normalised to sum to 1 in its topic: `q(i)`. Item ids are a
  seeded shuffle of 1..n_items, so an id says nothing about its topic.
- **Successors.** Every item has a successor in its own topic: each topic's items form one
  seeded random cycle (so no item is its own successor).
- **Long-term interest.** User u has a topic distribution `θ ~ Dirichlet(alpha_user)` (sparse for
  `alpha_user` ≈ 0.1). After each session it drifts:
  `θ ← (1 - drift) · θ + drift · Dirichlet(alpha_user)`.
- **Session intent.** A session's intent topic is the previous session's (starting) intent with
  probability `p_repeat_topic`, else a draw from θ (always a draw from θ for a user's first
  session). So the recent sessions predict the next one: the hierarchy matters.
- **Clicks inside a session.** Before every click but the first, the intent switches to a fresh
  draw from θ with probability `p_intent_switch`. Then the click is
  - the previous item's successor with probability `p_successor` (not for a session's first click),
  - else, with probability `p_noise`, a popularity draw from a uniformly chosen topic (global
    popularity, heavy-tailed),
  - else a popularity draw from the intent topic.
  Popularity draws exclude the previous item (the rest of its topic is renormalised), so a
  session never clicks the same item twice in a row. A session's first click has no successor
  option: it is global with probability `p_noise`, else from the intent topic.
- **Sizes.** Sessions per user: `min(Geometric(1 / mean_sessions), max_sessions)` (support ≥ 1,
  mean ≈ `mean_sessions`). Items per session: `min(Geometric(1 / mean_session_len),
  max_session_len)`, so a 20-item truncation sometimes bites.
- **Time.** A user starts uniformly in `[start_time, start_time + span_days days]`. Inside a
  session consecutive clicks are `Exponential(mean_click_gap_s)` apart, rounded and clipped to
  `[1, max_click_gap_s]`; consecutive sessions are `session_gap_s + Exponential(
  mean_session_gap_s)` apart (floored to whole seconds). Since `max_click_gap_s < session_gap_s`,
  an idle-gap sessionizer with threshold `session_gap_s` (30 min by default; new session when
  the gap is ≥ the threshold) recovers the true sessions exactly.

Oracle: the next-click distribution given the whole latent state *before* the click, that is
θ, the current intent topic (or, at a session start, the previous session's intent), and the
previous item, marginalised over the intent switch / session-topic draw that happens at the
click:

    inside a session:   π(z) = (1 - p_intent_switch) · [z = intent] + p_intent_switch · θ(z)
    at a session start: π(z) = p_repeat_topic · [z = previous session's intent]
                               + (1 - p_repeat_topic) · θ(z)      (θ(z) for a first session)
    P(j)  = p_successor · [j = succ(prev)]
            + (p_noise / n_topics + p_topic · π(topic(j))) · q_¬prev(j)

with `p_topic = 1 - p_successor - p_noise` inside a session, `1 - p_noise` (and no successor
term) at its start, and `q_¬prev` the within-topic popularity with the previous item removed
and its topic renormalised. `oracle_rank` is the conservative rank of the clicked item over all
items (1 + the number of *other* items with probability ≥ the clicked item's). Computing it
costs [active sessions × n_items] per step, so it is optional.

Why our own code: no library generates session logs with a known hierarchical latent state;
the simulation is vectorised with NumPy (users are simulated in parallel, session by session and
then step by step), and I/O uses pandas/pyarrow.

Example:

>>> log = generate(SyntheticConfig(n_users=50, n_items=100, n_topics=5))
>>> list(log.events.columns)
['user_id', 'item_id', 'timestamp']
>>> bool((log.oracle["oracle_rank"] >= 1).all())
True
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from hiertcn_keras.data.synthetic_oracle import oracle_step

EVENT_COLUMNS = ("user_id", "item_id", "timestamp")
ORACLE_COLUMNS = EVENT_COLUMNS + ("true_session", "oracle_rank", "oracle_prob")

# Users are simulated in blocks so that memory stays bounded for millions of users; each block
# draws from its own child seed, so a given config always gives the same log.
_CELLS_PER_BLOCK = 1 << 22  # sessions × topics kept per block (θ of every session)
_MAX_USERS_PER_BLOCK = 50_000


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic click-log generator (see the module docstring for the model).

    Args:
        n_users: int. Number of users, ids 1..n_users. Defaults to 2000.
        n_items: int. Number of items, ids 1..n_items; at least 2 per topic. Defaults to 1000.
        n_topics: int. Number of topics. Defaults to 20.
        seed: int. Seed (≥ 0) of every random draw. Defaults to 7.
        zipf_exponent: float. Within-topic popularity exponent: rank r has weight
            `(r + 1) ** -zipf_exponent`. Defaults to 1.1.
        p_successor: float. Probability that a click (not a session's first) is the previous
            item's successor. Defaults to 0.4.
        p_noise: float. Probability that a click is drawn from global popularity.
            `p_successor + p_noise` must be ≤ 1. Defaults to 0.05.
        alpha_user: float. Concentration of the users' topic Dirichlet (small: few topics per
            user). Defaults to 0.1.
        drift: float. Weight of a fresh Dirichlet draw mixed into θ after every session.
            Defaults to 0.1.
        p_repeat_topic: float. Probability that a session keeps the previous session's intent
            topic. Defaults to 0.5.
        p_intent_switch: float. Probability that the intent is redrawn from θ before a click
            inside a session. Defaults to 0.05.
        mean_sessions: float. Mean of the geometric number of sessions per user (≥ 1).
            Defaults to 8.0.
        max_sessions: int. Cap on sessions per user. Defaults to 60.
        mean_session_len: float. Mean of the geometric number of clicks per session (≥ 1).
            Defaults to 6.0.
        max_session_len: int. Cap on clicks per session. Defaults to 40.
        start_time: int. Earliest user start, Unix seconds. Defaults to 1577836800
            (2020-01-01 UTC).
        span_days: float. Users start uniformly in `[start_time, start_time + span_days]`.
            Defaults to 30.0.
        mean_click_gap_s: float. Mean gap between clicks of a session, seconds. Defaults to 60.0.
        max_click_gap_s: int. Clip of the gap between clicks of a session; must be below
            `session_gap_s`. Defaults to 1700.
        session_gap_s: int. Minimum gap between sessions, seconds (the sessionizer's idle gap).
            Defaults to 1800.
        mean_session_gap_s: float. Mean of the exponential added to `session_gap_s` between
            sessions. Defaults to 86400.0 (one day).

    Example:

    >>> SyntheticConfig(n_users=10).n_items
    1000
    """

    n_users: int = 2000
    n_items: int = 1000
    n_topics: int = 20
    seed: int = 7
    zipf_exponent: float = 1.1
    p_successor: float = 0.4
    p_noise: float = 0.05
    alpha_user: float = 0.1
    drift: float = 0.1
    p_repeat_topic: float = 0.5
    p_intent_switch: float = 0.05
    mean_sessions: float = 8.0
    max_sessions: int = 60
    mean_session_len: float = 6.0
    max_session_len: int = 40
    start_time: int = 1_577_836_800
    span_days: float = 30.0
    mean_click_gap_s: float = 60.0
    max_click_gap_s: int = 1700
    session_gap_s: int = 1800
    mean_session_gap_s: float = 86400.0

    def __post_init__(self):
        for name, field in self.__dataclass_fields__.items():
            value = getattr(self, name)
            if field.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                    raise ValueError(f"{name} must be an int, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"{name} must be a number, got {value!r}")
            elif not np.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        for name in ("n_users", "n_topics", "max_sessions", "max_session_len", "max_click_gap_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.n_items < 2 * self.n_topics:
            raise ValueError(
                f"n_items must be ≥ 2 * n_topics = {2 * self.n_topics} (every topic needs a "
                f"successor cycle of ≥ 2 items), got {self.n_items}"
            )
        for name in ("seed", "start_time", "zipf_exponent", "span_days", "mean_session_gap_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        for name in ("p_successor", "p_noise", "drift", "p_repeat_topic", "p_intent_switch"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.p_successor + self.p_noise > 1.0:
            raise ValueError(
                f"p_successor + p_noise must be ≤ 1, got {self.p_successor} + {self.p_noise}"
            )
        for name in ("alpha_user", "mean_click_gap_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("mean_sessions", "mean_session_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.max_click_gap_s >= self.session_gap_s:
            raise ValueError(
                f"max_click_gap_s must be < session_gap_s = {self.session_gap_s} so that the "
                f"idle-gap rule recovers the sessions, got {self.max_click_gap_s}"
            )


@dataclasses.dataclass
class SyntheticLog:
    """A generated log, the generator's catalogue and the oracle.

    Args:
        events: `pandas.DataFrame` with columns `user_id`, `item_id`, `timestamp` (int64),
            sorted by (`timestamp`, `user_id`).
        item_topic: int array [n_items + 1]. Topic of each item id; -1 at index 0.
        successor: int array [n_items + 1]. Successor item id of each item id; 0 at index 0.
        item_popularity_within_topic: float array [n_items + 1]. `q(item)`, summing to 1 over
            each topic; 0 at index 0.
        config: `SyntheticConfig`. The generator's parameters.
        oracle: `pandas.DataFrame` aligned row by row with `events`: `user_id`, `item_id`,
            `timestamp`, `true_session` (0-based session index within the user), and, when
            generated `with_oracle=True`, `oracle_rank` (1-based, conservative ties, over all
            items) and `oracle_prob` (true probability of the clicked item).
    """

    events: pd.DataFrame
    item_topic: np.ndarray
    successor: np.ndarray
    item_popularity_within_topic: np.ndarray
    config: SyntheticConfig
    oracle: pd.DataFrame


@dataclasses.dataclass(frozen=True)
class _Catalogue:
    """Items in internal order: topic blocks are contiguous, popularity decreasing inside."""

    topic: np.ndarray  # [n] topic of internal item i
    q: np.ndarray  # [n] within-topic popularity
    cdf: np.ndarray  # [n] topic(i) + inclusive within-topic CDF; topic t's block ends at t + 1
    start: np.ndarray  # [T] first internal index of each topic
    end: np.ndarray  # [T] one past the last internal index of each topic
    succ: np.ndarray  # [n] internal successor
    item_id: np.ndarray  # [n] public id (1..n) of internal item i


def _make_catalogue(config, rng):
    n, n_topics = config.n_items, config.n_topics
    topic = (np.arange(n) * n_topics) // n
    start = np.searchsorted(topic, np.arange(n_topics), side="left")
    end = np.searchsorted(topic, np.arange(n_topics), side="right")
    rank = np.arange(n) - start[topic]
    weight = (rank + 1.0) ** -config.zipf_exponent
    q = weight / np.bincount(topic, weights=weight, minlength=n_topics)[topic]
    running = np.cumsum(q)
    within = running - (running[start] - q[start])[topic]
    cdf = topic + within
    cdf[end - 1] = np.arange(n_topics) + 1.0  # exact block ends, whatever the rounding
    # One random cycle per topic: shuffle inside each block, link each item to the next.
    order = np.lexsort((rng.random(n), topic))
    pos = np.arange(n)
    nxt = np.where(pos + 1 == end[topic], start[topic], pos + 1)
    succ = np.empty(n, dtype=np.int64)
    succ[order] = order[nxt]
    item_id = rng.permutation(n) + 1
    return _Catalogue(topic, q, cdf, start, end, succ, item_id)


def _draw_from_rows(rng, probs):
    """One category per row of `probs` [rows, k] (rows need not be normalised)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((cum <= u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _draw_in_topic(rng, cat, z, prev):
    """Popularity draws from topics `z` [r] excluding the previous internal items `prev` [r]."""
    u = rng.random(len(z))
    has = prev >= 0
    p = np.where(has, prev, 0)
    same = has & (cat.topic[p] == z)
    qp = np.where(same, cat.q[p], 0.0)
    # Map u onto the topic's CDF with prev's interval cut out: x ∈ [0, 1 - qp), then skip it.
    x = u * (1.0 - qp)
    lower = cat.cdf[p] - cat.q[p] - z
    x = np.where(same & (x >= lower), x + qp, x)
    idx = np.clip(np.searchsorted(cat.cdf, z + x, side="right"), cat.start[z], cat.end[z] - 1)
    # Rounding at prev's interval edge (probability ~1e-16) must still not repeat prev.
    bad = np.nonzero(same & (idx == prev))[0]
    if len(bad):
        step = idx[bad] + 1
        idx[bad] = np.where(step < cat.end[z[bad]], step, cat.start[z[bad]])
    return idx


def _draw_step(rng, config, cat, sess, intent, prev, theta_sess, first):
    """Draw one click for each session in `sess` [r]; updates `intent` in place on a switch.

    `intent`, `prev` (previous internal item, -1 before the first click) and `theta_sess`
    ([sessions, T]) are indexed by session; returns the clicked internal items [r].
    """
    r = len(sess)
    if not first:
        switch = sess[rng.random(r) < config.p_intent_switch]
        intent[switch] = _draw_from_rows(rng, theta_sess[switch])
        kind = rng.random(r)
        is_succ = kind < config.p_successor
        is_noise = ~is_succ & (kind < config.p_successor + config.p_noise)
    else:
        is_succ = np.zeros(r, dtype=bool)
        is_noise = rng.random(r) < config.p_noise
    draw_topic = intent[sess]
    draw_topic[is_noise] = rng.integers(0, config.n_topics, int(is_noise.sum()))
    clicked = np.empty(r, dtype=np.int64)
    clicked[is_succ] = cat.succ[prev[sess[is_succ]]]
    pop = ~is_succ
    clicked[pop] = _draw_in_topic(rng, cat, draw_topic[pop], prev[sess[pop]])
    return clicked


def _intent_mixture(config, theta, topic, first):
    """The distribution [r, T] of the intent topic behind the next click.

    At a session start (`first`), `topic` [r] is the previous session's intent (-1 for a
    user's first session); inside a session it is the current intent. `theta` is [r, T].
    """
    keep = config.p_repeat_topic if first else 1.0 - config.p_intent_switch
    has = topic >= 0
    pi = theta * np.where(has, 1.0 - keep, 1.0)[:, None]
    pi[np.nonzero(has)[0], topic[has]] += keep
    return pi


def _segment_cumsum(values, counts):
    """Cumulative sums restarting at every segment of lengths `counts` (all ≥ 1)."""
    total = np.cumsum(values)
    first = np.cumsum(counts) - counts
    return total - np.repeat(total[first] - values[first], counts)


def _simulate_block(config, cat, rng, n_users, with_oracle):
    n_topics = config.n_topics
    n_sessions = np.minimum(rng.geometric(1.0 / config.mean_sessions, n_users),
                            config.max_sessions)
    sess_offset = np.cumsum(n_sessions) - n_sessions
    total_sessions = int(n_sessions.sum())

    # Session level: θ, its drift, and the intent topic of every session (user-major order).
    alpha = np.full(n_topics, config.alpha_user)
    theta = rng.dirichlet(alpha, n_users)
    theta_sess = np.empty((total_sessions, n_topics))
    topic_sess = np.empty(total_sessions, dtype=np.int64)
    prev_topic_sess = np.full(total_sessions, -1, dtype=np.int64)
    last_topic = np.full(n_users, -1, dtype=np.int64)
    for s in range(int(n_sessions.max())):
        users = np.nonzero(n_sessions > s)[0]
        rows = sess_offset[users] + s
        z = _draw_from_rows(rng, theta[users])
        if s > 0:
            repeat = rng.random(len(users)) < config.p_repeat_topic
            z = np.where(repeat, last_topic[users], z)
            prev_topic_sess[rows] = last_topic[users]
        theta_sess[rows] = theta[users]
        topic_sess[rows] = z
        last_topic[users] = z
        movers = users[n_sessions[users] > s + 1]
        theta[movers] = ((1.0 - config.drift) * theta[movers]
                         + config.drift * rng.dirichlet(alpha, len(movers)))

    # Click level: every session of every user in parallel, step by step.
    length = np.minimum(rng.geometric(1.0 / config.mean_session_len, total_sessions),
                        config.max_session_len)
    ev_offset = np.cumsum(length) - length
    n_events = int(length.sum())
    items = np.empty(n_events, dtype=np.int64)
    ranks = np.empty(n_events, dtype=np.int64) if with_oracle else None
    probs = np.empty(n_events) if with_oracle else None
    intent = topic_sess.copy()
    prev = np.full(total_sessions, -1, dtype=np.int64)
    for t in range(int(length.max())):
        sess = np.nonzero(length > t)[0]
        before = intent[sess]
        clicked = _draw_step(rng, config, cat, sess, intent, prev, theta_sess, t == 0)
        if with_oracle:
            known = prev_topic_sess[sess] if t == 0 else before
            pi = _intent_mixture(config, theta_sess[sess], known, t == 0)
            ev = ev_offset[sess] + t
            ranks[ev], probs[ev] = oracle_step(cat, config, pi, prev[sess], t == 0, clicked)
        items[ev_offset[sess] + t] = clicked
        prev[sess] = clicked

    # Time: clicks of a session are short gaps apart; sessions are ≥ session_gap_s apart.
    click_gap = np.clip(np.rint(rng.exponential(config.mean_click_gap_s, n_events)),
                        1, config.max_click_gap_s).astype(np.int64)
    click_gap[ev_offset] = 0
    in_session = _segment_cumsum(click_gap, length)
    duration = in_session[ev_offset + length - 1]
    sess_gap = (config.session_gap_s
                + np.floor(rng.exponential(config.mean_session_gap_s, total_sessions))
                ).astype(np.int64)
    advance = np.empty(total_sessions, dtype=np.int64)
    advance[1:] = duration[:-1] + sess_gap[1:]
    advance[sess_offset] = 0
    span_s = int(round(config.span_days * 86400))
    user_start = config.start_time + rng.integers(0, span_s + 1, n_users)
    sess_start = np.repeat(user_start, n_sessions) + _segment_cumsum(advance, n_sessions)
    timestamp = np.repeat(sess_start, length) + in_session

    user = np.repeat(np.repeat(np.arange(n_users), n_sessions), length)
    true_session = np.repeat(np.arange(total_sessions) - np.repeat(sess_offset, n_sessions),
                             length)
    return user, items, timestamp, true_session, ranks, probs


def _log_order(user, timestamp):
    """The permutation sorting clicks by (timestamp, user): one int64 key when it fits."""
    t0 = int(timestamp.min())
    span, width = int(timestamp.max()) - t0 + 1, int(user.max()) + 1
    if span * width < 2**63:
        # (user, timestamp) pairs are unique, so an unstable sort is still deterministic.
        return np.argsort((timestamp - t0) * width + user)
    return np.lexsort((user, timestamp))


def generate(config=None, *, with_oracle=True):
    """Generate a synthetic click log (see the module docstring for the model).

    Args:
        config: `SyntheticConfig` or `None` for the defaults.
        with_oracle: bool. Compute `oracle_rank` and `oracle_prob` for every click; costs
            [active sessions × n_items] work per step. Defaults to `True`.

    Returns:
        A `SyntheticLog`. The same config always gives the identical log.

    Example:

    >>> log = generate(SyntheticConfig(n_users=20, n_items=40, n_topics=4), with_oracle=False)
    >>> sorted(log.oracle.columns)
    ['item_id', 'timestamp', 'true_session', 'user_id']
    """
    config = SyntheticConfig() if config is None else config
    if not isinstance(config, SyntheticConfig):
        raise ValueError(f"config must be a SyntheticConfig, got {type(config).__name__}")
    per_block = max(1, min(_MAX_USERS_PER_BLOCK,
                           _CELLS_PER_BLOCK // int(config.n_topics * config.mean_sessions)))
    n_blocks = -(-config.n_users // per_block)
    seeds = np.random.SeedSequence(config.seed).spawn(n_blocks + 1)
    cat = _make_catalogue(config, np.random.default_rng(seeds[0]))
    parts = []
    for b in range(n_blocks):
        lo = b * per_block
        n_users = min(per_block, config.n_users - lo)
        out = _simulate_block(config, cat, np.random.default_rng(seeds[b + 1]), n_users,
                              with_oracle)
        parts.append((out[0] + lo + 1,) + out[1:])
    user, items, timestamp, true_session, ranks, probs = (
        None if parts[0][k] is None else np.concatenate([p[k] for p in parts]) for k in range(6)
    )
    del parts
    order = _log_order(user, timestamp)
    user, timestamp = user[order], timestamp[order]
    item_id = cat.item_id[items[order]]
    events = pd.DataFrame({"user_id": user, "item_id": item_id, "timestamp": timestamp})
    oracle = {"user_id": user, "item_id": item_id, "timestamp": timestamp,
              "true_session": true_session[order].astype(np.int32)}
    if with_oracle:
        oracle["oracle_rank"] = ranks[order]
        oracle["oracle_prob"] = probs[order]

    n = config.n_items
    item_topic = np.full(n + 1, -1, dtype=np.int64)
    item_topic[cat.item_id] = cat.topic
    successor = np.zeros(n + 1, dtype=np.int64)
    successor[cat.item_id] = cat.item_id[cat.succ]
    popularity = np.zeros(n + 1)
    popularity[cat.item_id] = cat.q
    return SyntheticLog(events, item_topic, successor, popularity, config,
                        pd.DataFrame(oracle))
