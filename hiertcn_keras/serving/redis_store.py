"""`RedisUserStore`: the networked user-interest store, shared by several serving processes.

A user's record is one Redis hash, `hiertcn:{fingerprint}:user:{user}`, with fields
`version`, `context` (float32 bytes) and `meta` (`UserState.encode`'s binary record; JSON
records written by earlier versions are still read). The compare-and-set of
`UserStore.put` is a Lua script, which Redis runs atomically: a client killed at any point
leaves the old record or the new one, never a mix, and two processes updating one user cannot
both win. `put_many` checks and writes several records in one script: all or nothing. Needs the `redis` Python client (`pip install hiertcn-keras[serving]`).
"""

from __future__ import annotations

from hiertcn_keras.serving.user_state import UserState
from hiertcn_keras.serving.user_store import UserStore

# KEYS[1] = the record; ARGV = expected version ("" = must not exist), context, meta.
_CAS = """
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
local version = (tonumber(current) or 0) + 1
redis.call('HSET', KEYS[1], 'version', version, 'context', ARGV[2], 'meta', ARGV[3])
return 1
"""

# Several records at once: KEYS = the records; ARGV = (expected, context, meta) per key. Checks
# every version first, then writes all: all or nothing.
_CAS_MANY = """
for i, key in ipairs(KEYS) do
  local current = redis.call('HGET', key, 'version')
  local expected = ARGV[3 * i - 2]
  if expected == '' then
    if current then return 0 end
  elseif current ~= expected then
    return 0
  end
end
for i, key in ipairs(KEYS) do
  local version = (tonumber(redis.call('HGET', key, 'version')) or 0) + 1
  redis.call('HSET', key, 'version', version, 'context', ARGV[3 * i - 1], 'meta', ARGV[3 * i])
end
return 1
"""


class RedisUserStore(UserStore):
    """User states in Redis.

    Args:
        url: str. `redis://HOST:PORT/DB` (any URL `redis.Redis.from_url` reads).
        fingerprint: str. The run fingerprint.
        **client_kwargs: passed to `redis.Redis.from_url` (e.g. `socket_timeout`).
    """

    def __init__(self, url, fingerprint, **client_kwargs):
        super().__init__(fingerprint)
        try:
            import redis
        except ImportError as error:
            raise ImportError("the Redis user store needs the `redis` client: pip install redis") from error
        self.url = url
        self.client = redis.Redis.from_url(url, **client_kwargs)
        self.client.ping()  # fail now, naming the URL, rather than on the first event
        self._cas = self.client.register_script(_CAS)
        self._cas_many = self.client.register_script(_CAS_MANY)
        self._prefix = f"hiertcn:{fingerprint}:user:"

    def _key(self, user):
        return self._prefix + str(user)

    def get(self, user):
        values = self.client.hmget(self._key(user), "version", "context", "meta")
        if values[0] is None:
            return None
        return UserState.decode(values[1], values[2]), int(values[0])

    def get_many(self, users):
        """`UserStore.get_many` in one pipelined round trip (`HMGET` per user, not a transaction)."""
        users = list(dict.fromkeys(str(user) for user in users))
        pipe = self.client.pipeline(transaction=False)
        for user in users:
            pipe.hmget(self._key(user), "version", "context", "meta")
        return {user: None if v[0] is None else (UserState.decode(v[1], v[2]), int(v[0]))
                for user, v in zip(users, pipe.execute())}

    def put(self, user, state, expected_version):
        vector, meta = state.encode()
        expected = "" if expected_version is None else str(int(expected_version))
        return bool(self._cas(keys=[self._key(user)], args=[expected, vector, meta]))

    def put_many(self, updates):
        if len(updates) == 1:
            return self.put(*updates[0])
        keys, args = [], []
        for user, state, expected_version in updates:
            vector, meta = state.encode()
            keys.append(self._key(user))
            args += ["" if expected_version is None else str(int(expected_version)), vector, meta]
        return bool(self._cas_many(keys=keys, args=args))

    def users(self):
        n = len(self._prefix)
        return sorted(key.decode()[n:] for key in self.client.scan_iter(match=self._prefix + "*", count=1000))

    def delete(self, user):
        self.client.delete(self._key(user))

    def close(self):
        self.client.close()

    def __repr__(self):
        return f"RedisUserStore({self.url!r}, fingerprint={self.fingerprint!r})"
