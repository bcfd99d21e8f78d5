"""Start `hiertcn serve` as a child process and read the URL it listens on (tests, benchmarks, scripts).

`hiertcn serve --port 0` binds a free port and prints, once it accepts connections,

    serving RUN_DIR on http://HOST:PORT (Ctrl-C stops)

`start_serve` runs the command with the same Python and this package first on `PYTHONPATH`,
reads its output (stdout and stderr together) up to that line, and returns a `ServeProcess`;
a thread then keeps reading the rest, so the pipe never fills, and `stop()` returns all of it.
A server that exits, or does not print its URL in time, raises with what it printed.

Example:

>>> with start_serve(["--run", "runs/hiertcn", "--warm"]) as server:     # doctest: +SKIP
...     urllib.request.urlopen(f"{server.url}/healthz").read()
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

_READY = re.compile(r"^serving .* on (http://\S+) \(Ctrl-C stops\)$")


class ServeProcess:
    """A running `hiertcn serve` process.

    Attributes:
        process: `subprocess.Popen`.
        url: str. `http://HOST:PORT`.
        lines: list of str. Everything it printed so far (stdout and stderr), in order.
    """

    def __init__(self, process, url, lines):
        self.process, self.url, self.lines = process, url, lines
        self._reader = threading.Thread(target=self._read, daemon=True, name="hiertcn-serve-output")
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def host(self):
        return self.url[len("http://"):].rsplit(":", 1)[0]

    @property
    def port(self):
        return int(self.url.rsplit(":", 1)[1])

    def output(self):
        """What the server printed so far, as one string."""
        return "".join(self.lines)

    def stop(self, timeout=30):
        """Terminate the server (SIGTERM, then SIGKILL after `timeout` s); returns all it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return self.output()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start_serve(args, *, env=None, wait_s=600.0):
    """Run `hiertcn serve ARGS --port 0` and wait until it listens.

    Args:
        args: list of str. `serve`'s arguments (`--run`, ...), without `--port`.
        env: dict or `None`. The child's environment (default: this one's); this package's
            folder is put first on its `PYTHONPATH`, so the child runs the same code.
        wait_s: float. Seconds to wait for the URL (loading a model and building a faiss index
            take a while). Defaults to 600.

    Returns:
        `ServeProcess`.

    Raises:
        RuntimeError: the server exited or printed no URL within `wait_s`; the message holds
            its output.
    """
    env = dict(os.environ if env is None else env)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-c", "import sys; from hiertcn_keras.cli import main; sys.exit(main())", "serve",
               *[str(a) for a in args], "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines, url = [], None
    deadline = time.monotonic() + wait_s
    timer = threading.Timer(wait_s, process.kill)  # a silent, hung server must not block readline forever
    timer.start()
    try:
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = _READY.match(line.rstrip("\n"))
            if found:
                url = found.group(1)
    finally:
        timer.cancel()
    if url is None:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        lines.extend(process.stdout.readlines())
        raise RuntimeError(f"hiertcn serve did not start (exit code {process.returncode}):\n" + "".join(lines))
    return ServeProcess(process, url, lines)
