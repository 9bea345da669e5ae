"""``notebooks/01-model-review`` runs end to end on the tiny world, and its pair stays in sync."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.config import get_settings
from allotment.db import migrate
from allotment.db.engine import make_engine
from allotment.modeling import registry
from allotment.world.generate import generate

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PAIRED_PY = NOTEBOOKS / "01-model-review.py"
IPYNB = NOTEBOOKS / "01-model-review.ipynb"

CHAMPION = registry.CHAMPION

runner = CliRunner()


def _text_outputs(nb: nbformat.NotebookNode) -> str:
    """Every stream and text/plain or text/markdown output of the executed notebook."""
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(str(out.get("text", "")))
            data = out.get("data", {})
            for mime in ("text/plain", "text/markdown"):
                if mime in data:
                    parts.append(str(data[mime]))
    return "\n".join(parts)


def _train_with_champion(task: str) -> str:
    result = runner.invoke(app, ["train", "--task", task, "--json"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["trained"]
    name = str(run["model_name"])
    if not any(CHAMPION in row.aliases for row in registry.list_models(name)):
        version = str(run["version"])
        args = ["models", "promote", name, version, "--force", "--reason", "notebook test"]
        promoted = runner.invoke(app, args)
        assert promoted.exit_code == 0, promoted.output
    return name


def test_model_review_notebook_runs_on_the_tiny_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    get_settings.cache_clear()
    engine = make_engine()
    migrate.upgrade(engine)
    generate(engine, scale="tiny", seed=3)
    engine.dispose()
    champions = [_train_with_champion(task) for task in ("supplier_delay", "sla_breach")]

    # The kernel is a subprocess: it sees the settings through the inherited environment.
    assert os.environ["ALLOTMENT_DATA_DIR"] == str(tmp_path / "var")
    nb = nbformat.read(IPYNB, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    errors = [out for cell in nb.cells for out in cell.get("outputs", [])]
    assert not [out for out in errors if out.get("output_type") == "error"]
    text = _text_outputs(nb)
    assert f"sqlite:///{tmp_path / 'mlflow.db'}" in text, "the kernel used the test's store"
    for name in champions:
        assert f"champion: {name} v1" in text
    assert "no champion for allotment-churn yet — run `allotment train`" in text
    images = [
        out
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    # per champion: calibration plot, logged SHAP summary (when drawn), mean |SHAP| bars
    assert len(images) >= 2 * len(champions)


def test_paired_notebook_is_in_sync_with_its_script() -> None:
    script = jupytext.read(PAIRED_PY)
    notebook = nbformat.read(IPYNB, as_version=4)
    assert [(c.cell_type, c.source) for c in script.cells] == [
        (c.cell_type, c.source) for c in notebook.cells
    ], "run `jupytext --sync notebooks/01-model-review.py` after editing either file"
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
