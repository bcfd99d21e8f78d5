"""The HTTP API's request and response bodies as pydantic models (they make the OpenAPI schema).

An event is `{"user": ID, "item": ID, "timestamp": SECONDS}`, no other keys, where an ID is a
non-empty string of at most `MAX_ID_LENGTH` characters (valid Unicode: no lone surrogates) or
an integer of at most that many digits (it is used as its decimal string), and SECONDS a
number of Unix seconds in `MIN_TIMESTAMP..MAX_TIMESTAMP` (1970..2100). A timestamp above the
range that fits once divided by 1,000 gets a hint that it is in milliseconds. `POST /events`
takes one event, `{"events": [event, ...]}` or a bare `[event, ...]` (1..`max_events`).

Bodies are parsed by pydantic's own JSON parser (`validate_json`), not `json.loads`: it never
raises `RecursionError` (nesting deeper than its limit is a validation error) and refuses lone
surrogates and integers of more than 4,300 digits, so every invalid body is a 422.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, RootModel, StrictFloat, StrictInt,
                      StrictStr, Tag, TypeAdapter)

from hiertcn_keras.limits import MAX_ID_LENGTH, MAX_TIMESTAMP, MIN_TIMESTAMP
from hiertcn_keras.serving.event_checks import check_identifier, check_timestamp


Identifier = Annotated[
    Union[StrictStr, StrictInt],
    AfterValidator(check_identifier),
    Field(description=f"a non-empty string of at most {MAX_ID_LENGTH} characters, or an integer (used as its "
                      "decimal string)", examples=["u1", 42]),
]
Timestamp = Annotated[
    Union[StrictInt, StrictFloat],
    AfterValidator(check_timestamp),
    Field(description=f"Unix seconds in {MIN_TIMESTAMP}..{MAX_TIMESTAMP} (not milliseconds)",
          examples=[1700000000]),
]


class Event(BaseModel):
    """One interaction: a user clicked (viewed, bought) an item at a time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"user": "u1", "item": "42", "timestamp": 1700000000}]})

    user: Identifier
    item: Identifier
    timestamp: Timestamp


class EventBatch(BaseModel):
    """Several events, applied in order."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, description="1..max_events events (the server's --max-events)")


class EventList(RootModel[list[Event]]):
    """Several events as a bare JSON array."""

    root: list[Event] = Field(min_length=1)


def _body_kind(value):
    if isinstance(value, dict) and "events" in value:
        return "batch"
    return "list" if isinstance(value, list) else "event"


EventsBody = Annotated[
    Union[Annotated[EventBatch, Tag("batch")], Annotated[EventList, Tag("list")], Annotated[Event, Tag("event")]],
    Discriminator(_body_kind, custom_error_type="events_body",
                  custom_error_message="expected an event object, {\"events\": [...]} or a JSON array of events"),
]
EVENTS_BODY = TypeAdapter(EventsBody)


def parse_events(body):
    """The events of a `POST /events` body (bytes): a list of `Event`.

    Raises:
        pydantic.ValidationError: invalid JSON or schema (the caller answers 422).
    """
    parsed = EVENTS_BODY.validate_json(body)
    if isinstance(parsed, EventBatch):
        return parsed.events
    if isinstance(parsed, EventList):
        return parsed.root
    return [parsed]


def events_body_schema():
    """The OpenAPI request-body entry of `POST /events` (the body is parsed by the route itself)."""
    return {"required": True, "content": {"application/json": {"schema": EVENTS_BODY.json_schema(
        ref_template="#/components/schemas/{model}")}}}


# -- responses --------------------------------------------------------------------------------

EventStatus = Literal["new_session", "kept", "repeat", "truncated", "duplicate", "out_of_order", "unknown_item"]


class EventResult(BaseModel):
    """What one event did: accepted (`new_session`, `kept`, `repeat`, `truncated`) or skipped."""

    user: str
    item: str
    status: EventStatus
    position: int | None = Field(None, description="the event's position in its session (kept events)")


class EventsResponse(BaseModel):
    """`POST /events`: every event was applied in order."""

    applied: int = Field(description="events processed (accepted or skipped)")
    accepted: int = Field(description="events that changed the user's state")
    skipped: int = Field(description="duplicates, out-of-order (skip policy) and unknown items (skip policy)")
    results: list[EventResult]


class ErrorResponse(BaseModel):
    """Every 4xx (and a 5xx, which is a bug or a failing store): a message, maybe details."""

    error: str
    detail: list | None = Field(None, description="per-field validation errors (422)")


class EventsErrorResponse(ErrorResponse):
    """`POST /events` stopped at a rejected event (409 or 422): those before it were applied."""

    applied: int = 0
    results: list[EventResult] = []


class ScoredItem(BaseModel):
    item: str
    score: float


class RecommendationsResponse(BaseModel):
    """Top-k items by inner product with the user's current embedding, best first."""

    user: str
    k: int
    items: list[ScoredItem]
    item_store: str | None = Field(None, description="the dated item store that ranked them (a server following a "
                                   "store directory); null for a fixed item table")


class UserStateResponse(BaseModel):
    """A user's stored state: counters and the open session."""

    user: str
    version: int = Field(description="the record's version (compare-and-set counter)")
    n_events: int
    n_sessions: int
    session: list[str] = Field(description="the open session's kept items, in order")
    last_timestamp: float | None


class DeletedResponse(BaseModel):
    """`DELETE /users/{user}/state`: the user's next event starts from the zero state."""

    user: str
    deleted: bool = Field(description="whether a stored state existed")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    run: str
    model: str
    fingerprint: str
    n_catalogue: int
    item_vectors: str
    retrieval: dict
    session_gap: float
    max_session_len: int
    store: str
    item_store: dict | None = Field(None, description="the dated item store served (name, stamp, candidates) and "
                                    "the directory followed; null for a fixed item table")
    recency: dict | None = Field(None, description="the served recency prior (window hours, beta, events kept in "
                                 "the live click counter, newest event time); null when the run has none")
    transitions: dict | None = Field(None, description="the served transition prior (gamma, pairs counted live and "
                                     "warm, distinct pairs, newest pair time); null when the run has none")


class ReloadResponse(BaseModel):
    """The result of `POST /admin/reload`: the dated item store now served."""

    status: Literal["reloaded", "unchanged"]
    store: str | None
    stamp: str | None = None
    path: str | None = None
    until: float | None = None
    n_candidates: int | None = None
    n_missing: int | None = None
    n_outside_vocabulary: int | None = None
    seconds: float | None = Field(None, description="building the new store's recommender (off the request path)")
    previous: str | None = None
