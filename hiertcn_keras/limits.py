"""Limits shared by every input path: `prepare`, the online recommender and the HTTP API.

One definition, so that an id or a timestamp that `prepare` accepts is accepted by `serve` too,
and the other way round.
"""

#: Longest user or item id (characters) accepted anywhere.
MAX_ID_LENGTH = 256
#: Plausible event timestamps, Unix seconds: 0 (1970-01-01, or the start of a relative clock)
#: .. 4,102,444,800 (2100-01-01). A value above the upper bound that fits once divided by 1,000
#: is most likely in milliseconds (`--time-unit ms`).
MIN_TIMESTAMP = 0
MAX_TIMESTAMP = 4_102_444_800
