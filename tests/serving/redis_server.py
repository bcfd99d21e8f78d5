"""Start a throwaway `redis-server` on 127.0.0.1 for the tests (or say why it cannot)."""

import shutil
import socket
import subprocess
import time


def unavailable_reason():
    """Why Redis tests cannot run here, or `None`."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)"
    try:
        import redis  # noqa: F401  (only whether it imports)
    except ImportError:
        return "the redis Python client is not installed (pip install redis)"
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A `redis-server` process without persistence; `url` names it; `stop()` ends it."""

    def __init__(self, workdir):
        import redis

        self.port = _free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}") from None
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("redis-server did not answer within 10 s")
        client.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
