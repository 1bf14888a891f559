"""A `qdi-mcp` subprocess for tests that need the process boundary (HTTP serving, the emulator's banner)."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from pathlib import Path


class QdiProcess:
    """A `qdi-mcp` subprocess whose stderr is read on a thread (so its pipe never fills) and kept for asserts."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "qdi_mcp", *args],
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

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Block until a stderr line matches; fail with everything the server said if it exits or stalls."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern.pattern!r}; stderr: {''.join(self.stderr)}") from None
            if line is None:
                raise AssertionError(f"server exited ({self.process.poll()}); stderr: {''.join(self.stderr)}")
            match = pattern.search(line)
            if match:
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
