"""Start and stop the servers of the browser tests (the real API and the dashboard).

Every process runs in its own process group, so :meth:`Server.stop` reaches the children that
uvicorn or Streamlit spawn; the fixtures in ``conftest.py`` call it in their teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A server subprocess in its own process group, with its log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, path: str, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Poll ``path`` until it answers 200; fail with the server's log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with status {self.process.returncode} before being "
                    f"ready:\n{self.log_tail()}",
                    pytrace=False,
                )
            try:
                if httpx.get(self.url + path, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        pytest.fail(
            f"{self.name} not ready at {self.url}{path} after {timeout:.0f} s:\n{self.log_tail()}",
            pytrace=False,
        )

    def stop(self) -> None:
        """SIGTERM to the whole group (uvicorn/streamlit children too), SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_server(name: str, cmd: list[str], env: dict[str, str], port: int, log: Path) -> Server:
    handle = log.open("wb")
    try:
        process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() reaches every child
        )
    finally:
        handle.close()
    return Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log)


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "DO_NOT_TRACK": "1",
            "OMP_NUM_THREADS": "1",
        }
    )
    return env


def start_dashboard(api_url: str, log_dir: Path) -> Server:
    """``streamlit run dashboard/app.py`` on a free local port, headless, no telemetry."""
    port = free_port()
    env = base_env()
    env["API_URL"] = api_url
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "dashboard/app.py",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        # a crash shows its traceback in the page, so a failing test's screenshot says why
        "--client.showErrorDetails",
        "full",
    ]
    return start_server("dashboard", cmd, env, port, log_dir / f"dashboard-{port}.log")
