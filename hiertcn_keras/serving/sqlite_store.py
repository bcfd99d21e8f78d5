"""`SQLiteUserStore`: the embedded user-interest store (one file, no server).

The database runs in WAL mode (readers never block the writer, and a process killed mid-write
leaves the last committed state: SQLite rolls the torn transaction back on the next open) with
`synchronous=NORMAL` (durable against process crashes; a power cut may lose the last few
commits, never consistency). Each update is ONE statement, hence one transaction: an
`INSERT … ON CONFLICT DO NOTHING` for a new user, or an `UPDATE … WHERE version = ?` — the
compare-and-set of `UserStore.put`; `put_many` runs several of them (one `executemany` for the
new users, one for the others) in one `BEGIN IMMEDIATE` transaction and rolls back unless every
row was written; `get_many` reads a request's users in one `SELECT … IN (…)`. Several
processes may share the file (`busy_timeout` waits for the write lock); threads borrow
connections from a small pool (a connection is used by one thread at a time, and short-lived
server threads do not leave one behind each).

Schema: `user_state(fingerprint, user, version, context BLOB, meta TEXT, updated REAL)` with
primary key (fingerprint, user). `meta` holds `UserState.encode`'s binary record (SQLite keeps
a BLOB in a TEXT column as given); rows written as JSON text by earlier versions are still read,
and rewritten in the binary format at the user's next event (no migration step).
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
import time
from pathlib import Path

from hiertcn_keras.serving.user_state import UserState
from hiertcn_keras.serving.user_store import UserStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS user_state (
    fingerprint TEXT NOT NULL,
    user TEXT NOT NULL,
    version INTEGER NOT NULL,
    context BLOB NOT NULL,
    meta TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (fingerprint, user)
) WITHOUT ROWID
"""

_USERS_PER_SELECT = 500  # bound variables per statement stay far below SQLite's limit


class SQLiteUserStore(UserStore):
    """User states in a SQLite file.

    Args:
        path: str or Path. The database file (created with its folder if missing).
        fingerprint: str. The run fingerprint.
        busy_timeout_ms: int. How long a writer waits for another process's lock. Defaults
            to 10000.

    Example:

    >>> store = SQLiteUserStore("users.sqlite", run.fingerprint)        # doctest: +SKIP
    >>> store.put("u1", UserState.initial(256), None)
    True
    """

    def __init__(self, path, fingerprint, *, busy_timeout_ms=10000):
        super().__init__(fingerprint)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_ms = int(busy_timeout_ms)
        self._pool = queue.LifoQueue()
        self._connections = []
        self._lock = threading.Lock()
        with self._conn() as conn:
            conn.execute(_SCHEMA)

    def _connect(self):
        # isolation_level=None: autocommit, so each statement below is its own transaction.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=self.busy_timeout_ms / 1000)
        conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _conn(self):
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._pool.put(conn)

    def get(self, user):
        with self._conn() as conn:
            row = conn.execute(
                "SELECT version, context, meta FROM user_state WHERE fingerprint = ? AND user = ?",
                (self.fingerprint, str(user)),
            ).fetchone()
        if row is None:
            return None
        return UserState.decode(row[1], row[2]), int(row[0])

    def get_many(self, users):
        """`UserStore.get_many` in one `SELECT … IN (…)` per 500 users (one statement for a request)."""
        users = list(dict.fromkeys(str(user) for user in users))
        found = {}
        with self._conn() as conn:
            for start in range(0, len(users), _USERS_PER_SELECT):
                chunk = users[start : start + _USERS_PER_SELECT]
                found.update((row[0], row[1:]) for row in conn.execute(
                    "SELECT user, version, context, meta FROM user_state WHERE fingerprint = ? AND user IN "
                    f"({', '.join('?' * len(chunk))})", (self.fingerprint, *chunk)))
        return {user: None if user not in found else (UserState.decode(found[user][1], found[user][2]),
                                                      int(found[user][0])) for user in users}

    _INSERT = ("INSERT INTO user_state (fingerprint, user, version, context, meta, updated) "
               "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (fingerprint, user) DO NOTHING")
    _UPDATE = ("UPDATE user_state SET version = version + 1, context = ?, meta = ?, updated = ? "
               "WHERE fingerprint = ? AND user = ? AND version = ?")

    def _write(self, conn, updates, now):
        """The compare-and-set statements of `updates` (one `executemany` per kind); True when all wrote."""
        inserts, changes = [], []
        for user, state, expected in updates:
            vector, meta = state.encode()
            if expected is None:
                inserts.append((self.fingerprint, str(user), vector, meta, now))
            else:
                changes.append((vector, meta, now, self.fingerprint, str(user), int(expected)))
        for statement, rows in ((self._INSERT, inserts), (self._UPDATE, changes)):
            # sqlite3 sums the rows changed over executemany: all written, or a version moved.
            if rows and conn.executemany(statement, rows).rowcount != len(rows):
                return False
        return True

    def put(self, user, state, expected_version):
        with self._conn() as conn:  # one statement: its own transaction
            return self._write(conn, [(user, state, expected_version)], time.time())

    def put_many(self, updates):
        """All of `updates` in one transaction (`BEGIN IMMEDIATE` … `COMMIT`), or none of them."""
        if len(updates) == 1:
            return self.put(*updates[0])
        now = time.time()
        with self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not self._write(conn, updates, now):
                    conn.execute("ROLLBACK")
                    return False
                conn.execute("COMMIT")
                return True
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def users(self):
        with self._conn() as conn:
            rows = conn.execute("SELECT user FROM user_state WHERE fingerprint = ? ORDER BY user",
                                (self.fingerprint,)).fetchall()
        return [r[0] for r in rows]

    def delete(self, user):
        with self._conn() as conn:
            conn.execute("DELETE FROM user_state WHERE fingerprint = ? AND user = ?", (self.fingerprint, str(user)))

    def integrity_check(self):
        """SQLite's own consistency check: `"ok"` for a sound file."""
        with self._conn() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self):
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._pool = queue.LifoQueue()

    def __repr__(self):
        return f"SQLiteUserStore({str(self.path)!r}, fingerprint={self.fingerprint!r})"
