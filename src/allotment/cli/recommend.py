"""``allotment recommend``: actions for backorders the plan cannot resolve in time.

A simulation unless ``--save``: prints per backorder the ranked actions with cost, benefit, net
value and approval route. ``--save`` stores them (superseding the backorders' earlier proposed
ones) and audits.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from allotment.cli.common import app_errors, default_actor, unit_of_work

if TYPE_CHECKING:  # the allocation and model stack loads when the command runs
    from allotment.recommend import service

console = Console()


def _ids(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        ids = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a comma-separated list of backorder ids", param_hint="--ids"
        ) from None
    if not ids:
        raise typer.BadParameter("no backorder id given", param_hint="--ids")
    return ids


def recommend(
    ids: str | None = typer.Option(None, "--ids", help="Backorder ids, comma-separated."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    save: bool = typer.Option(False, "--save", help="Store the recommendations and audit."),
    top: int | None = typer.Option(
        None, "--top", min=1, help="Actions per backorder (default: the policy's)."
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="Backorders to print (not JSON)."),
    as_of: str | None = typer.Option(None, "--as-of", help="Day to plan from (YYYY-MM-DD)."),
    actor: str | None = typer.Option(None, "--actor", help="Who is acting (default: cli:<login>)."),
) -> None:
    """Recommend actions (expedite, alternate supplier, transfer, substitute, ...) per backorder."""
    from allotment.recommend import service

    wanted = _ids(ids)
    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(f"{as_of!r} is not a date", param_hint="--as-of") from None
    who = actor or default_actor()
    with app_errors(), unit_of_work() as session:
        recs = service.generate(session, ids=wanted, as_of=day, limit=top, requested_by=who)
        saved = None
        if save:
            saved = [r.id for r in service.save(session, recs=recs, actor=who)]
    if as_json:
        payload = recs.to_dict()
        payload["saved_ids"] = saved
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    _print(recs, limit, saved)


def _print(recs: service.RecommendationSet, limit: int, saved: list[int] | None) -> None:
    from allotment.recommend.actions import money

    console.print(
        f"{len(recs.items)} of {recs.considered} backorder(s) cannot be resolved by their"
        f" promised date under the plan as of {recs.as_of} (plan status {recs.plan_status}).",
        highlight=False,
        soft_wrap=True,
    )
    for item in recs.items[:limit]:
        c = item.case
        loss = item.expected_loss["total"]
        flag = "" if c.scored else " [yellow](not scored: P(breach) 1 from the plan)[/]"
        console.print(
            f"\n[bold]{c.number}[/] ({c.tier}, {c.sku}): {item.why}; expected loss"
            f" ${loss:,.0f}{flag}",
            highlight=False,
            soft_wrap=True,
        )
        for r in item.actions:
            a = r.action
            chain = " → ".join(r.route.chain) if r.route.chain else "automatic"
            consent = " (needs the customer's consent)" if a.needs_consent else ""
            console.print(
                f"  {r.rank}. [bold]{a.kind.value}[/]{consent}  cost ${money(a.cost):,.2f}"
                f"  benefit ${money(a.benefit):,.2f}  net ${money(a.net):,.2f}"
                f"  route ${r.route.amount:,.2f}: {chain}",
                highlight=False,
                soft_wrap=True,
            )
            console.print(f"     {a.explanation}", highlight=False, soft_wrap=True)
    if len(recs.items) > limit:
        console.print(f"... and {len(recs.items) - limit} more (--limit, --json).")
    if saved is not None:
        console.print(f"[green]saved[/] {len(saved)} recommendation(s).")
    else:
        console.print("Simulation only: nothing written (use --save).")
