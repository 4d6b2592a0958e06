"""Start the local stack as a child process (for the end-to-end tests and bench/)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StackProcess:
    """`python -m tools.local_stack` on a free port, its output in ``workdir/stack.log``."""

    def __init__(self, workdir: Path, signing_secret: str, **env: str):
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.log = Path(workdir) / "stack.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWITCHBACK_"))}
        clean.update(
            {
                "PORT": str(self.port),
                "SLACK_SIGNING_SECRET": signing_secret,
                "SWITCHBACK_LOCAL_STATE": str(Path(workdir) / "stack.json"),
                **env,
            }
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.local_stack"],
            cwd=ROOT,
            env=clean,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float = 60) -> StackProcess:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"stack exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.api}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"stack not ready:\n{self.output()}")

    def aws_url(self) -> str:
        return re.search(r"embedded moto server at (http://\S+)", self.output()).group(1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
