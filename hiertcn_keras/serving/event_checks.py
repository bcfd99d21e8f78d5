"""The checks of one event's fields, shared by the HTTP API and `OnlineRecommender`.

No pydantic here: `hiertcn recommend` and library users validate timestamps without the
serving extras installed. The limits themselves live in `hiertcn_keras.limits`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from hiertcn_keras.limits import MAX_ID_LENGTH, MAX_TIMESTAMP, MIN_TIMESTAMP


def check_identifier(value):
    """A user or item id as its string: non-empty, ≤ `MAX_ID_LENGTH` characters, valid UTF-8.

    Raises:
        ValueError: with the reason (pydantic turns it into a 422).
    """
    if isinstance(value, int):
        if abs(value) >= 10 ** (MAX_ID_LENGTH - 1):  # compared as a number: str() of a huge int is slow
            raise ValueError(f"an integer id has at most {MAX_ID_LENGTH - 1} digits")
        return str(value)
    if not value:
        raise ValueError("an id must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"an id has at most {MAX_ID_LENGTH} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("an id must be valid Unicode (it holds a lone surrogate)") from None
    return value


def check_timestamp(value, where="timestamp"):
    """A finite number of Unix seconds in `MIN_TIMESTAMP..MAX_TIMESTAMP`, as float.

    Integers are compared exactly (a 400-digit integer is out of range, not an overflow).

    Raises:
        ValueError: naming the range, and the unit when the value looks like milliseconds.
    """
    if type(value) is float and MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:  # the usual case, before the ABC checks
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where} must be a number of seconds, got {type(value).__name__}")
    value = int(value) if isinstance(value, numbers.Integral) else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number of seconds, got {value}")
    if value < MIN_TIMESTAMP:
        raise ValueError(f"{where} must be ≥ {MIN_TIMESTAMP} (Unix seconds), got {value}")
    if value > MAX_TIMESTAMP:
        hint = ""
        if value <= MAX_TIMESTAMP * 1000:
            hint = f"; it looks like milliseconds: send seconds ({value / 1000:.3f})"
        shown = value if len(str(value)) <= 40 else f"a {len(str(value))}-digit number"
        raise ValueError(f"{where} must be ≤ {MAX_TIMESTAMP} (Unix seconds, year 2100), got {shown}{hint}")
    return float(value)
