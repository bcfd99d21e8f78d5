"""Validation of the HTTP API's JSON input: every bad request becomes a 4xx with a message.

An event is an object `{"user": ID, "item": ID, "timestamp": SECONDS}` where an ID is a
non-empty string (≤ 256 characters) or an integer, and SECONDS a finite number; no other keys.
`POST /events` takes one event or `{"events": [event, ...]}` (1..`max_events`).
Query parameters: `k` an integer in `1..max_k`, `exclude_seen` `true`/`false`/`1`/`0`, `at` a
finite number.
"""

from __future__ import annotations

import json
import math

MAX_ID_LENGTH = 256
EVENT_KEYS = ("user", "item", "timestamp")


class BadRequest(ValueError):
    """A client error: `status` (4xx) and a message for the response body."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = int(status)


def parse_identifier(value, where):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRequest(f"{where} must be a string or an integer, got {json.dumps(value)[:80]}")
    text = str(value)
    if not text or len(text) > MAX_ID_LENGTH:
        raise BadRequest(f"{where} must be 1..{MAX_ID_LENGTH} characters, got {len(text)}")
    return text


def _number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{where} must be a finite number of seconds, got {json.dumps(value)[:80]}")
    return float(value)


def parse_event(obj, where="event"):
    """`(user, item, timestamp)` from one event object."""
    if not isinstance(obj, dict):
        raise BadRequest(f"{where} must be an object with {list(EVENT_KEYS)}, got {type(obj).__name__}")
    missing = [k for k in EVENT_KEYS if k not in obj]
    if missing:
        raise BadRequest(f"{where} lacks {missing}")
    extra = sorted(set(obj) - set(EVENT_KEYS))
    if extra:
        raise BadRequest(f"{where} has unknown fields {extra}; allowed: {list(EVENT_KEYS)}")
    return (parse_identifier(obj["user"], f"{where}.user"), parse_identifier(obj["item"], f"{where}.item"),
            _number(obj["timestamp"], f"{where}.timestamp"))


def parse_events(body, *, max_events=1000):
    """The events of a `POST /events` body (bytes).

    Returns:
        list of `(user, item, timestamp)`.

    Raises:
        BadRequest: invalid JSON (400), wrong schema (400), too many events (413).
    """
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(f"body is not valid JSON: {error}") from None
    if isinstance(payload, dict) and "events" in payload:
        if set(payload) != {"events"}:
            raise BadRequest(f"a batch is {{\"events\": [...]}} only; unknown fields {sorted(set(payload) - {'events'})}")
        events = payload["events"]
        if not isinstance(events, list) or not events:
            raise BadRequest("events must be a non-empty list")
        if len(events) > max_events:
            raise BadRequest(f"at most {max_events} events per request, got {len(events)}", status=413)
        return [parse_event(e, f"events[{i}]") for i, e in enumerate(events)]
    return [parse_event(payload)]


def parse_int(params, name, default, low, high):
    """An integer query parameter in `low..high`."""
    values = params.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {values[-1]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be in {low}..{high}, got {value}")
    return value


def parse_bool(params, name, default):
    values = params.get(name)
    if not values:
        return default
    text = values[-1].lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, got {values[-1]!r}")


def parse_float(params, name):
    values = params.get(name)
    if not values:
        return None
    try:
        value = float(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {values[-1]!r}") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be finite, got {values[-1]!r}")
    return value
