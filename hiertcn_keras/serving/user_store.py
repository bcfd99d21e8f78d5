"""The user-interest store interface (`UserStore`) and its in-memory backend.

Backends: `sqlite_store.SQLiteUserStore` (the embedded default, no server) and
`redis_store.RedisUserStore` (networked, for several serving processes). Both key a record by
(run fingerprint, user id), so the states of two models never mix: a new model starts every
user from the zero state. Every record carries a version; `put` is a compare-and-set on it,
one transaction per update, so a read–modify–write by one process never overwrites another's
update of the same user (the loser re-reads and retries), and a writer killed at any point
leaves either the old record or the new one.

`user_store_url.open_user_store` opens one by URL: `sqlite:PATH` (or a bare path ending in `.sqlite`/`.db`), `redis://HOST:PORT/DB`, and
`memory:` (`MemoryUserStore`, one process, nothing persisted: one-off use and tests).
"""

from __future__ import annotations

import abc
import threading


class UserStore(abc.ABC):
    """Per-user `UserState` records of one model (its fingerprint).

    Args:
        fingerprint: str. The run fingerprint every record of this store object belongs to.
    """

    def __init__(self, fingerprint):
        if not fingerprint or not isinstance(fingerprint, str):
            raise ValueError(f"fingerprint must be a non-empty string, got {fingerprint!r}")
        self.fingerprint = fingerprint

    @abc.abstractmethod
    def get(self, user):
        """`(UserState, version)` of a user, or `None` for a user without a record."""

    def get_many(self, users):
        """`{user: (UserState, version) or None}` of several users, in as few reads as the backend allows.

        The base implementation reads them one by one; SQLite reads them in one statement,
        Redis in one pipelined round trip. `OnlineRecommender.observe_batch` reads a request's
        users with it.
        """
        return {str(user): self.get(user) for user in users}

    @abc.abstractmethod
    def put(self, user, state, expected_version):
        """Write a user's state if its version is still `expected_version`.

        Args:
            user: str.
            state: `UserState`.
            expected_version: int, or `None` when the user had no record.

        Returns:
            bool. `False` (nothing written) when another writer got there first.
        """

    def put_many(self, updates):
        """Write several users' states, all or nothing (one transaction).

        Args:
            updates: list of `(user, state, expected_version)` (distinct users).

        Returns:
            bool. `False` (nothing written) when any record's version moved.
        """
        if len(updates) == 1:
            return self.put(*updates[0])
        raise NotImplementedError(f"{type(self).__name__} writes one user at a time")

    @abc.abstractmethod
    def users(self):
        """All user ids with a record for this fingerprint (for checks and tooling)."""

    @abc.abstractmethod
    def delete(self, user):
        """Forget a user (their next event starts from the zero state)."""

    def close(self):
        """Release connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class MemoryUserStore(UserStore):
    """User states in a dict of this process (nothing persisted), with the same contract."""

    def __init__(self, fingerprint):
        super().__init__(fingerprint)
        self._records = {}
        self._lock = threading.Lock()

    def get(self, user):
        with self._lock:
            record = self._records.get(str(user))
        if record is None:
            return None
        version, vector, meta = record
        from hiertcn_keras.serving.user_state import UserState

        return UserState.decode(vector, meta), version

    def get_many(self, users):
        from hiertcn_keras.serving.user_state import UserState

        with self._lock:
            records = {str(user): self._records.get(str(user)) for user in users}
        return {user: None if r is None else (UserState.decode(r[1], r[2]), r[0]) for user, r in records.items()}

    def put(self, user, state, expected_version):
        vector, meta = state.encode()
        with self._lock:
            current = self._records.get(str(user))
            if (current[0] if current else None) != expected_version:
                return False
            self._records[str(user)] = ((expected_version or 0) + 1, vector, meta)
            return True

    def put_many(self, updates):
        encoded = [(str(user), expected, state.encode()) for user, state, expected in updates]
        with self._lock:
            for user, expected, _ in encoded:
                current = self._records.get(user)
                if (current[0] if current else None) != expected:
                    return False
            for user, expected, (vector, meta) in encoded:
                self._records[user] = ((expected or 0) + 1, vector, meta)
            return True

    def users(self):
        with self._lock:
            return sorted(self._records)

    def delete(self, user):
        with self._lock:
            self._records.pop(str(user), None)

    def __repr__(self):
        return f"MemoryUserStore(fingerprint={self.fingerprint!r})"

