"""``allotment generate`` from the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from allotment.cli.main import app

runner = CliRunner()


def test_generate_prints_a_json_summary_then_refuses_to_overwrite(db_url: str) -> None:
    result = runner.invoke(app, ["generate", "--scale", "tiny", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["scale"] == "tiny" and summary["rows"]["customers"] == 90
    assert summary["stats"]["open_backorders"] > 0

    again = runner.invoke(app, ["generate", "--scale", "tiny", "--seed", "2"])
    assert again.exit_code == 2
    assert "--replace" in again.output
    assert "Traceback" not in again.output

    replaced = runner.invoke(app, ["generate", "--scale", "tiny", "--seed", "2", "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert "oracle AUC" in replaced.output


def test_unknown_scale_is_a_usage_error(db_url: str) -> None:
    result = runner.invoke(app, ["generate", "--scale", "huge"])
    assert result.exit_code == 2
    assert "unknown scale" in result.output
