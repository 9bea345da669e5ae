"""``allotment events ingest`` and ``events list`` on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.domain.models import IngestedEvent, InventoryPosition
from tests.events.helpers import T0, small
from tests.events.stream import write_jsonl

runner = CliRunner()


def _adjust(world: Any, event_id: str, delta: int) -> dict[str, Any]:
    return {
        "type": "inventory_adjusted",
        "event_id": event_id,
        "occurred_at": T0.isoformat(),
        "sku": world.product.sku,
        "location_code": world.location.code,
        "delta": delta,
    }


def test_ingest_applies_in_batches_and_a_rerun_changes_nothing(
    session: Session, tmp_path: Path
) -> None:
    w = small(session)
    path = write_jsonl(
        [_adjust(w, "c-1", 5), _adjust(w, "c-2", -9), _adjust(w, "c-3", 1)], tmp_path / "e.jsonl"
    )
    first = runner.invoke(app, ["events", "ingest", str(path), "--batch-size", "2", "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["applied"], summary["parked"]) == (2, 1)
    again = runner.invoke(app, ["events", "ingest", str(path), "--json"])
    assert json.loads(again.stdout)["duplicate"] == 3
    session.expire_all()
    assert session.scalars(select(InventoryPosition.on_hand)).one() == 6


def test_list_shows_parked_events_with_their_error(session: Session, tmp_path: Path) -> None:
    w = small(session)
    path = write_jsonl([_adjust(w, "p-1", -3), _adjust(w, "p-2", 3)], tmp_path / "e.jsonl")
    runner.invoke(app, ["events", "ingest", str(path), "--no-rescore"])
    listed = runner.invoke(app, ["events", "list", "--status", "parked", "--json"])
    assert listed.exit_code == 0, listed.output
    (parked,) = json.loads(listed.stdout)
    assert parked["event_id"] == "p-1"
    assert parked["error"].startswith("InventoryAdjustmentError: stock on hand would be -3")


def test_an_invalid_line_is_reported_and_nothing_is_ingested(
    session: Session, tmp_path: Path
) -> None:
    w = small(session)
    path = tmp_path / "e.jsonl"
    path.write_text(
        json.dumps(_adjust(w, "v-1", 1))
        + "\n"
        + json.dumps({**_adjust(w, "v-2", 1), "qty": 1})
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["events", "ingest", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: qty: Extra inputs are not permitted" in result.output
    assert "Traceback" not in result.output
    assert session.scalar(select(func.count()).select_from(IngestedEvent)) == 0


def test_a_reused_id_with_another_payload_exits_1_in_one_line(
    session: Session, tmp_path: Path
) -> None:
    w = small(session)
    runner.invoke(
        app, ["events", "ingest", str(write_jsonl([_adjust(w, "r-1", 1)], tmp_path / "a.jsonl"))]
    )
    changed = write_jsonl([_adjust(w, "r-1", 2)], tmp_path / "b.jsonl")
    result = runner.invoke(app, ["events", "ingest", str(changed)])
    assert result.exit_code == 1
    assert "already received with another payload (first difference: delta)" in result.output
    assert "Traceback" not in result.output
