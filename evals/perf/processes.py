"""A subprocess whose stderr is read on a thread (so its pipe never fills) and kept, with a wait for a line: how the
benchmarks (and the tests, through tests/qdi_processes.py) start `qdi-mcp serve` and `qdi-mcp emulator` and wait for
their "ready" banners. (redis-server is started by tests/redis_server.py and evals/perf/replicas.py.)"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from pathlib import Path

START_TIMEOUT_SECONDS = 30.0


class Process:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, or redis-server
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)  # end of stream: the process exited

    def wait_for(self, pattern: re.Pattern[str], timeout: float = START_TIMEOUT_SECONDS) -> re.Match[str]:
        """Block until a stderr line matches; fail with everything the process said if it exits or stalls."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern.pattern!r}; stderr: {''.join(self.stderr)}") from None
            if line is None:
                raise AssertionError(f"process exited ({self.process.poll()}); stderr: {''.join(self.stderr)}")
            if match := pattern.search(line):
                return match

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=10)
