"""Open a user-interest store by URL: `sqlite:PATH`, `redis://HOST:PORT/DB` or `memory:`.

The backends (`sqlite_store`, `redis_store`) are imported only when their URL is used, so a
process serving from SQLite never needs the redis client.
"""

from __future__ import annotations

from hiertcn_keras.serving.user_store import MemoryUserStore


def open_user_store(url, fingerprint):
    """Open the store named by a URL.

    Args:
        url: str. `sqlite:PATH`, a path ending in `.sqlite`/`.db`, `redis://...` or `memory:`.
        fingerprint: str. The run fingerprint.

    Returns:
        `UserStore`.
    """
    url = str(url)
    if url == "memory:":
        return MemoryUserStore(fingerprint)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from hiertcn_keras.serving.redis_store import RedisUserStore

        return RedisUserStore(url, fingerprint)
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        if path.startswith("//"):
            path = path[2:]
    elif url.endswith((".sqlite", ".db", ".sqlite3")):
        path = url
    else:
        raise ValueError(f"store must be sqlite:PATH, redis://HOST:PORT/DB or memory:, got {url!r}")
    if not path:
        raise ValueError(f"store URL {url!r} names no file")
    from hiertcn_keras.serving.sqlite_store import SQLiteUserStore

    return SQLiteUserStore(path, fingerprint)
