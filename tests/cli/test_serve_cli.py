"""`allotment serve` starts the real server; it refuses to start when it cannot be safe."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from allotment.cli.main import app

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_health_and_stops(tmp_path: Path) -> None:
    port = _free_port()
    executable = Path(sys.executable).parent / "allotment"
    proc = subprocess.Popen(
        [str(executable), "serve", "--port", str(port)],
        env={**os.environ, "ALLOTMENT_DATA_DIR": str(tmp_path / "var")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = None
        deadline = time.monotonic() + 60  # a wait for startup, not a timed assertion
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert body == {"status": "ok"}, proc.stdout.read().decode() if proc.stdout else ""
        assert (tmp_path / "var" / "allotment.db").exists()  # migrated before serving
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def test_serve_refuses_production_without_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOTMENT_ENVIRONMENT", "production")
    monkeypatch.setenv("ALLOTMENT_JWT_SECRET", "changethis")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "ALLOTMENT_JWT_SECRET is missing or a placeholder" in result.output


def test_serve_refuses_several_workers_on_in_memory_sqlite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALLOTMENT_DATABASE_URL", "sqlite:///:memory:")
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "in-memory SQLite" in result.output
