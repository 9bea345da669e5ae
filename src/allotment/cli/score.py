"""Scoring commands: score the backlog, explain one backorder's rank (or two, side by side)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from allotment.cli.common import app_errors, err_console, unit_of_work

if TYPE_CHECKING:  # the scoring stack (LightGBM, MLflow) loads when a command runs, not at --help
    from allotment.scoring.explanation import BackorderExplanation, Contrast
    from allotment.scoring.service import ScoreRunResult

console = Console()


def _ids(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        ids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a comma-separated list of backorder ids", param_hint="--ids"
        ) from None
    if not ids:
        raise typer.BadParameter("give at least one backorder id", param_hint="--ids")
    return ids


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def score(
    ids: str | None = typer.Option(None, "--ids", help="Only these backorders: 1,2,3."),
    explain_top: int = typer.Option(
        50, "--explain-top", min=0, help="Cache explanations for the top N by priority."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Score open backorders with the champion models and the active policy."""
    from allotment.scoring.service import score as score_backlog

    wanted = _ids(ids)
    with (
        app_errors(),
        unit_of_work() as session,
        err_console.status("scoring", spinner="dots") as status,
    ):
        result = score_backlog(session, ids=wanted, explain_top=explain_top, progress=status.update)
    if as_json:
        _print_json(result.to_dict())
        return
    print_run(result)


def print_run(result: ScoreRunResult) -> None:
    versions = ", ".join(f"{k} v{v}" for k, v in result.model_versions.items()) or "none"
    console.print(
        f"[bold]score run {result.run_id}[/] ({result.trigger}) as of {result.as_of}:"
        f" policy {result.policy_name} (version id {result.policy_version_id}); models {versions}"
    )
    for model, reason in result.unavailable.items():
        console.print(f"[yellow]{model} unavailable:[/] {reason}", highlight=False)
    console.print(
        f"scored {result.scored:,} backorder(s), {result.degraded:,} degraded"
        f" (rule terms only), {result.explained:,} feature row(s) explained in advance"
        f" in {result.seconds.get('total', 0.0):.1f} s"
    )
    if not result.top:
        return
    table = Table("#", "backorder", "customer", "tier", "priority", "top reason", title="top 10")
    for rank, t in enumerate(result.top, start=1):
        table.add_row(
            str(rank),
            f"{t.number} ({t.backorder_id})",
            t.customer,
            t.tier,
            _usd(t.priority),
            t.top_reason,
        )
    console.print(table)


def explain(
    backorder_id: int = typer.Argument(..., help="Backorder id."),
    vs: int | None = typer.Option(None, "--vs", help="Compare with this backorder."),
    top: int = typer.Option(5, "--top", min=1, help="Feature parts shown per component."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Why a backorder ranks where it does: components and feature attributions in USD."""
    from allotment.scoring.explanation import contrast, explain_backorder

    with app_errors(), unit_of_work() as session:
        if vs is None:
            one = explain_backorder(session, backorder_id)
            both = None
        else:
            both = contrast(session, backorder_id, vs)
    if both is None:
        if as_json:
            _print_json(one.to_dict())
        else:
            _print_explanation(one, top)
        return
    if as_json:
        _print_json(both.to_dict())
    else:
        _print_contrast(both)


def _print_explanation(ex: BackorderExplanation, top: int) -> None:
    state = " [yellow]DEGRADED (rule terms only)[/]" if ex.degraded else ""
    console.print(
        f"[bold]{ex.number}[/] {ex.customer} ({ex.tier}) priority [bold]{_usd(ex.priority)}[/]"
        f"{state} — multiplier ×{ex.multiplier:g}, policy {ex.policy_name}, scored"
        f" {ex.scored_at:%Y-%m-%d %H:%M} as of {ex.as_of}"
    )
    table = Table("component", "USD", "risk", "exposure", "largest parts")
    for c in ex.components:
        parts = [p for p in c.parts if p.feature != "baseline"][:top]
        base = next((p for p in c.parts if p.feature == "baseline"), None)
        lines = [p.reason + (" [yellow](imputed)[/]" if p.flag else "") for p in parts]
        if base is not None:
            lines.append(base.reason)
        table.add_row(
            c.label,
            _usd(c.usd),
            "" if c.risk is None else f"{c.risk:.1%}",
            _usd(c.exposure),
            "\n".join(lines),
        )
    console.print(table)
    for f in ex.flags:
        what = f.get("feature") or f.get("detail", "")
        console.print(
            f"[yellow]flag[/] {f.get('model', '')}: {f['problem']} {what}", highlight=False
        )
    console.print(f"[dim]{ex.method}[/]", highlight=False)


def _print_contrast(cx: Contrast) -> None:
    a, b = cx.a, cx.b
    above = "above" if cx.difference >= 0 else "below"
    console.print(
        f"[bold]{a.number}[/] ({_usd(a.priority)}) ranks {above} [bold]{b.number}[/]"
        f" ({_usd(b.priority)}) by {_usd(abs(cx.difference))}"
    )
    table = Table("component", a.number, b.number, "difference")
    for name, diff in cx.components.items():
        table.add_row(
            a.component(name).label,
            _usd(a.component(name).usd),
            _usd(b.component(name).usd),
            f"{'+' if diff >= 0 else '−'}{_usd(abs(diff))}",
        )
    console.print(table)
    feats = Table("component", "feature", "difference (USD)", title="largest feature differences")
    for comp, feature, diff in cx.features:
        feats.add_row(comp, feature, f"{'+' if diff >= 0 else '−'}{_usd(abs(diff))}")
    console.print(feats)
