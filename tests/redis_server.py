"""A real `redis-server` of the test's own, on a free loopback port, started and stopped by the test.

Where Redis cannot start: a skip on a developer's machine without the package, a FAILURE in CI (`CI=true`),
so the shared-state tests can never go green by not running (`.ci/run` installs Debian's redis-server).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from qdi_mcp.settings import StateUrl
from qdi_mcp.settings.state_url import parse_state_url

PASSWORD = "redis-test-password-7f3a"  # noqa: S105 - a throwaway server's password, asserted never to leak
START_TIMEOUT_SECONDS = 10.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and a real Redis is needed: {reason} (.ci/run installs Debian's redis-server)")
    pytest.skip(f"no real Redis: {reason}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, folder: Path, *, password: str | None = PASSWORD) -> None:
        self.folder = folder
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> StateUrl:
        secret = f":{self.password}@" if self.password else ""
        return parse_state_url(f"redis://{secret}127.0.0.1:{self.port}/0")

    @property
    def url_text(self) -> str:
        secret = f":{self.password}@" if self.password else ""
        return f"redis://{secret}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not installed")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.folder), "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _unavailable(f"redis-server exited: {self.process.stderr.read().decode(errors='replace')[:300]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        _unavailable(f"redis-server did not listen on port {self.port} within {START_TIMEOUT_SECONDS:g} s")

    def start_on_same_port(self) -> None:
        """Start again after `stop` (its data is gone: nothing is saved), as a restarted Redis would."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def flush(self) -> None:
        import redis

        client = redis.Redis(port=self.port, password=self.password)
        try:
            client.flushall()
        finally:
            client.close()


@contextmanager
def running_redis(folder: Path, *, password: str | None = PASSWORD) -> Iterator[RedisServer]:
    server = RedisServer(folder, password=password)
    server.start()
    try:
        yield server
    finally:
        server.stop()


__all__ = ["PASSWORD", "RedisServer", "StateUrl", "free_port", "running_redis"]
