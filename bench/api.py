"""Benchmark the HTTP service on a prepared world (not a test: prints figures).

Usage::

    .venv/bin/python bench/api.py [--scale small] [--seed 7] [--requests 300]
        [--backends sqlite,postgresql] [--postgres postgresql://postgres@127.0.0.1:5432/test]
        [--mlflow sqlite:////path/to/mlflow.db]   # champions, if you have them

For each backend it generates the world into a fresh database (a temporary SQLite file, or a
private schema of the PostgreSQL database, dropped afterwards), scores the backlog, adds a
machine user with an API key, starts ``allotment serve`` on 127.0.0.1 (uvicorn, uvloop +
httptools) and measures with a bounded load - one client, one request at a time, keep-alive:

* backorder detail p50/p99 and throughput at concurrency 1; ``/explain`` (the detail's
  explanation) on first request for a backorder (an explanation cache miss: its features are
  recomputed) and once cached; list page (50 rows, default sort) p50/p99;
* event ingestion in events/s: one event per request, and batches of 1,000 (re-scoring
  deferred, so the figure is ingestion alone), with the server process's CPU per event, then
  the drain that re-scores what they touched (``--events-only``: these figures alone).

Floors, measured in the same run: an empty FastAPI endpoint on the same server stack, and the
three champions' raw one-row ``pred_contrib`` (when the model store has champions; pass
``--mlflow``). Besides wall-clock latencies, CPU ms per request: of the server process for
the HTTP rows (user + system, from /proc, warm-up requests included; the database server's
own CPU is not in it), of this process for ``pred_contrib``. On a shared, loaded machine the
less disturbed figure. A summary compares each figure with its target.
Targets (issue 6): detail p99 <= 25 ms; list p99 <= 50 ms; >= 500 events/s batched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the event stream generator lives with the tests
SERVE = "from allotment.cli.main import app; app()"
EMPTY = (
    "import sys, uvicorn; from fastapi import FastAPI; app = FastAPI()\n"
    "@app.get('/empty')\ndef empty() -> dict[str, str]:\n    return {}\n"
    "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]), loop='uvloop',"
    " http='httptools', log_level='warning')"
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    import httpx

    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except httpx.HTTPError:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/empty", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start within 180 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _latencies(call: Callable[[int], Any], n: int, warmup: int = 20) -> tuple[list[float], float]:
    """Per-call seconds of ``n`` sequential calls (after ``warmup``), and the total."""
    for i in range(warmup):
        call(i)
    out = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        call(i)
        out.append(time.perf_counter() - t)
    return out, time.perf_counter() - t0


def _ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _served(
    proc: subprocess.Popen[bytes], call: Callable[[int], Any], n: int, warmup: int = 20
) -> tuple[list[float], float, float]:
    """:func:`_latencies` of ``call``, and the server's CPU ms per request (warm-up included)."""
    c0 = _cpu_seconds(proc.pid)
    lat, total = _latencies(call, n, warmup)
    return lat, total, 1e3 * (_cpu_seconds(proc.pid) - c0) / (n + warmup)


def _row(name: str, lat: list[float], extra: str = "", cpu: float | None = None) -> None:
    used = "" if cpu is None else f"   CPU {cpu:6.2f} ms/req"
    print(f"  {name:<34} p50 {_ms(lat, 50):7.2f} ms   p99 {_ms(lat, 99):7.2f} ms{used}   {extra}")


def _against(name: str, lat: list[float], target_ms: float, floor: list[float]) -> None:
    """One line of the summary: p99 against its target and the empty endpoint's p99."""
    p99 = _ms(lat, 99)
    verdict = "met" if p99 <= target_ms else "NOT met"
    print(
        f"  {name:<22} p99 {p99:7.2f} ms  target <= {target_ms:.0f} ms: {verdict:<7}"
        f"  (empty-endpoint floor p99 {_ms(floor, 99):.2f} ms, x{p99 / _ms(floor, 99):.1f})"
    )


def _pred_contrib_floor(engine: Any, n: int) -> tuple[list[float], float] | None:
    """Per-call seconds of the three champions' raw one-row ``pred_contrib`` (one thread),
    and the CPU ms per call."""
    from allotment.features.build import scoring_frame
    from allotment.features.tables import load_tables
    from allotment.modeling import registry
    from allotment.scoring.risks import explainer_for
    from allotment.scoring.service import SUBJECT_COLUMN

    tables = load_tables(engine)
    rows = []
    for task in SUBJECT_COLUMN:
        frame = scoring_frame(task, tables)
        try:
            ex = explainer_for(registry.load_champion(task, frame.features))
        except Exception as exc:  # a missing champion: the floor is not available
            print(f"  ({task.value}: no champion: {type(exc).__name__})")
            return None
        if not len(frame.X):
            return None
        row = {c: frame.X[c].iat[0] for c in frame.X.columns}
        matrix, _ = ex.validator.row(row)
        rows.append((ex.boosters, matrix))

    def once(_i: int) -> None:
        for boosters, matrix in rows:
            for booster in boosters:
                booster.predict(matrix, pred_contrib=True, num_threads=1)

    c0 = time.process_time()
    lat, _total = _latencies(once, n)
    return lat, 1e3 * (time.process_time() - c0) / (n + 20)


def _prepare(url: str, scale: str, seed: int) -> tuple[str, list[int]]:
    """Generate, score, add a machine user; return its API key and some active backorder ids."""
    from sqlalchemy import select

    from allotment.db import migrate
    from allotment.db.engine import make_engine, session_scope
    from allotment.domain.lifecycle import ACTIVE_STATUSES
    from allotment.domain.models import Backorder
    from allotment.scoring.service import score
    from allotment.users import service as users
    from allotment.users.roles import Role
    from allotment.world.generate import generate

    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        t0 = time.perf_counter()
        generate(engine, scale=scale, seed=seed)
        print(f"  world {scale} seed {seed} generated in {time.perf_counter() - t0:.1f} s")
        with session_scope(engine) as session:
            t0 = time.perf_counter()
            result = score(session, explain_top=0)
            print(
                f"  backlog scored: {result.scored:,} backorders in"
                f" {time.perf_counter() - t0:.1f} s (degraded {result.degraded:,})"
            )
            users.create_user(session, name="bench", role=Role.PLANNER, password=None)
            key = users.issue_api_key(session, name="bench").secret
            ids = list(
                session.scalars(select(Backorder.id).where(Backorder.status.in_(ACTIVE_STATUSES)))
            )
    finally:
        engine.dispose()
    return key, ids


def _serve(url: str) -> tuple[subprocess.Popen[bytes], int]:
    """``allotment serve`` on ``url``'s database and a free port (its pid kept for the CPU
    figures)."""
    env = {
        **os.environ,
        "ALLOTMENT_DATABASE_URL": url,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    port = _port()
    server = _start([sys.executable, "-c", SERVE, "serve", "--port", str(port)], env, port)
    _SERVER[:] = [server.pid]
    return server, port


def _bench_backend(name: str, url: str, args: argparse.Namespace, floor: list[float]) -> None:
    import httpx

    from allotment.db.engine import make_engine

    print(f"\n== {name}")
    key, ids = _prepare(url, args.scale, args.seed)
    server, port = _serve(url)
    engine = make_engine(url)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
            rng = np.random.default_rng(args.seed)
            sample = [int(i) for i in rng.choice(ids, size=args.requests + 20)]
            paths = client.get("/openapi.json").json()["paths"]

            def detail(i: int) -> None:
                client.get(f"/api/v1/backorders/{sample[i]}").raise_for_status()

            lat, total, cpu = _served(server, detail, args.requests)
            _row(
                "backorder detail",
                lat,
                f"{args.requests / total:,.0f} req/s at concurrency 1   (target p99 <= 25 ms)",
                cpu,
            )
            figures = {"backorder detail": lat}
            if "/api/v1/backorders/{backorder_id}/explain" in paths:
                # First requests: each backorder's explanation is computed (a cache miss, as
                # the backlog was scored without explaining any); then the same ones, cached.
                fresh = list(dict.fromkeys(sample))[: args.misses + 2]

                unseen = iter(fresh)

                def explain_new(_i: int) -> None:
                    b = next(unseen)
                    client.get(f"/api/v1/backorders/{b}/explain").raise_for_status()

                lat, total, cpu = _served(server, explain_new, len(fresh) - 2, warmup=2)
                _row("explain, first request (miss)", lat, f"{len(lat)} backorders", cpu)

                def explain(i: int) -> None:
                    b = fresh[i % len(fresh)]
                    client.get(f"/api/v1/backorders/{b}/explain").raise_for_status()

                lat, total, cpu = _served(server, explain, args.requests)
                _row("explain, cached", lat, f"{args.requests / total:,.0f} req/s", cpu)
                figures["explain, cached"] = lat
            else:
                print("  backorder explain: no /explain route in this build")

            def page(_i: int) -> None:
                client.get("/api/v1/backorders", params={"limit": 50}).raise_for_status()

            lat, _, cpu = _served(server, page, args.requests)
            _row("list page (50 rows)", lat, "(target p99 <= 50 ms)", cpu)
            figures["list page"] = lat
            _row("floor: empty FastAPI endpoint", floor)
            contrib = _model_floor(url, args.requests)
            print("  against the targets:")
            _against("backorder detail", figures["backorder detail"], 25, floor)
            if "explain, cached" in figures:
                _against("explain, cached", figures["explain, cached"], 25, floor)
            _against("list page (50 rows)", figures["list page"], 50, floor)
            if contrib is not None:
                p99 = _ms(contrib, 99)
                print(f"  (the 3 champions' one-row pred_contrib alone: p99 {p99:.2f} ms)")

            _events(client, engine, args)
        _drain(engine)
    finally:
        engine.dispose()
        _stop(server)


def _events(client: Any, engine: Any, args: argparse.Namespace) -> None:
    """Event ingestion over HTTP: one event per request, then batches of 1,000 (re-scoring
    deferred: ingestion alone)."""
    from tests.events.stream import event_stream

    n_single, n_batched = args.requests, 5 * 1000
    events = event_stream(engine, n=n_single + n_batched + 1000, seed=args.seed + 1)
    singles, batched = events[:n_single], events[n_single : n_single + n_batched]

    def one(i: int) -> None:
        client.post("/api/v1/events?rescore=false", json=singles[i]).raise_for_status()

    t0, c0 = time.perf_counter(), _server_cpu()
    for i in range(n_single):
        one(i)
    single_s, single_cpu = time.perf_counter() - t0, _server_cpu() - c0
    t0, c0 = time.perf_counter(), _server_cpu()
    for i in range(0, n_batched, 1000):
        client.post(
            "/api/v1/events?rescore=false", json={"events": batched[i : i + 1000]}
        ).raise_for_status()
    batch_s, batch_cpu = time.perf_counter() - t0, _server_cpu() - c0
    print(
        f"  events, one per request            {n_single / single_s:7,.0f} events/s"
        f"   server CPU {single_cpu / n_single * 1000:.2f} ms/event"
    )
    print(
        f"  events, batches of 1,000           {n_batched / batch_s:7,.0f} events/s"
        f"   server CPU {batch_cpu / n_batched * 1000:.2f} ms/event   (target >= 500 events/s)"
    )


_SERVER: list[int] = []  # pid of the server being measured


def _server_cpu() -> float:
    """CPU seconds (user + system) the server process used so far (0 when unknown)."""
    try:
        return _cpu_seconds(_SERVER[0])
    except (IndexError, OSError):
        return 0.0


def _drain(engine: Any) -> None:
    from allotment.events import service

    t0 = time.perf_counter()
    drained = service.drain(engine)
    print(
        f"  then the re-score drain: {drained.scored:,} touched backorders in"
        f" {time.perf_counter() - t0:.1f} s ({drained.rounds} round(s))"
    )


def _bench_events_only(name: str, url: str, args: argparse.Namespace, _floor: Any) -> None:
    """``--events-only``: the same world and server, only the event ingestion figures."""
    import httpx

    from allotment.db.engine import make_engine

    print(f"\n== {name} (events only)")
    key, _ids = _prepare(url, args.scale, args.seed)
    server, port = _serve(url)
    engine = make_engine(url)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
            _events(client, engine, args)
        _drain(engine)
    finally:
        engine.dispose()
        _stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--mlflow", default=None, help="model store with champions")
    parser.add_argument(
        "--events-only", action="store_true", help="only the event ingestion figures"
    )
    parser.add_argument(
        "--misses", type=int, default=30, help="backorders explained on first request"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="allotment-bench-api-"))
    os.environ["ALLOTMENT_DATA_DIR"] = str(work)
    os.environ["ALLOTMENT_ENVIRONMENT"] = "local"
    os.environ["ALLOTMENT_LOG_LEVEL"] = "WARNING"
    os.environ["ALLOTMENT_MLFLOW_TRACKING_URI"] = args.mlflow or f"sqlite:///{work / 'mlflow.db'}"

    port = _port()
    empty = _start([sys.executable, "-c", EMPTY, str(port)], dict(os.environ), port)
    try:
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            floor, _, cpu = _served(empty, lambda _i: client.get("/empty"), args.requests)
    finally:
        _stop(empty)
    print(
        f"floor: empty FastAPI endpoint p50 {_ms(floor, 50):.2f} ms, p99 {_ms(floor, 99):.2f} ms,"
        f" server CPU {cpu:.2f} ms/req;  load average {os.getloadavg()[0]:.2f}"
    )

    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{work / 'allotment.db'}"
                _runner(args)("SQLite", url, args, floor)
            elif backend == "postgresql":
                _postgres(args, floor)
            else:
                raise SystemExit(f"unknown backend {backend!r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _runner(args: argparse.Namespace) -> Callable[[str, str, argparse.Namespace, Any], None]:
    return _bench_events_only if args.events_only else _bench_backend


def _model_floor(url: str, n: int) -> list[float] | None:
    """The pred_contrib floor on this backend's world, printed (None without champions)."""
    from allotment.db.engine import make_engine

    engine = make_engine(url)
    try:
        found = _pred_contrib_floor(engine, n)
    finally:
        engine.dispose()
    if found is None:
        print("  floor: raw one-row pred_contrib of the three champions: not available")
        return None
    lat, cpu = found
    _row("floor: 3 champions' pred_contrib", lat, "(one thread, in this process)", cpu)
    return lat


def _postgres(args: argparse.Namespace, floor: list[float]) -> None:
    from sqlalchemy import create_engine, text

    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.postgres else "?"
    try:
        _runner(args)(
            "PostgreSQL", f"{args.postgres}{sep}options=-csearch_path%3D{schema}", args, floor
        )
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
