"""kill -9 during a 10k-event ingest, then every event resent: the state of one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, func, select

from allotment.db.engine import read_only
from allotment.domain.models import IngestedEvent
from allotment.world.generate import generate
from tests.events.stream import canonical_dump, event_stream, write_jsonl

N_EVENTS = 10_000
BATCH = 250
SRC = Path(__file__).resolve().parents[2] / "src"


def _ingest(path: Path, db_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ALLOTMENT_DATABASE_URL": db_url,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from allotment.cli.main import app; app()",
            "events",
            "ingest",
            str(path),
            "--batch-size",
            str(BATCH),
            "--no-rescore",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]


def _recorded(engine: Engine) -> int:
    with read_only(engine).connect() as conn:  # never wait on the ingest's write lock
        return int(conn.scalar(select(func.count()).select_from(IngestedEvent)) or 0)


def test_a_killed_ingest_resent_in_full_ends_as_one_clean_run(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    generate(engine, scale="tiny", seed=5)
    events = event_stream(engine, n=N_EVENTS)
    path = write_jsonl(events, tmp_path / "events.jsonl")
    distinct = len({e["event_id"] for e in events})

    _finish(_ingest(path, db_url))
    clean = canonical_dump(engine)
    statuses = Counter(status for *_, status, _err in clean["events"])
    # The stream exercises every outcome the rules know.
    assert len(clean["events"]) == distinct
    assert min(statuses[s] for s in ("applied", "stale", "parked")) > 0, statuses

    generate(engine, scale="tiny", seed=5, replace=True)
    proc = _ingest(path, db_url)
    deadline = time.monotonic() + 120
    while _recorded(engine) < distinct // 3 and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert proc.poll() is None, "the ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = _recorded(engine)
    assert 0 < partial < distinct

    _finish(_ingest(path, db_url))
    assert canonical_dump(engine) == clean
