"""``allotment outreach``: the customers to call first, why, and the facts for the call."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from allotment.cli.common import app_errors, unit_of_work


def outreach(
    limit: int = typer.Option(20, "--limit", min=1, help="Customers to print (table only)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole list as JSON."),
) -> None:
    """Customers ranked by expected relationship value at risk from their open backorders."""
    from allotment.outreach.service import outreach_list
    from allotment.policy import service as policy_service
    from allotment.scoring.whatif import scoring_day

    with app_errors(), unit_of_work() as session:
        version, policy = policy_service.active_policy(session)
        result = outreach_list(
            session,
            policy=policy,
            policy_label=f"{version.name} v{version.version}",
            today=scoring_day(session),
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console = Console(highlight=False)
    console.print(
        f"{len(result.entries)} of {result.customers_considered:,} customers with open backorders"
        f" need a call (policy {result.policy})"
    )
    if result.unscored_backorders:
        console.print(
            f"[yellow]{result.unscored_backorders:,} open backorders have no score yet and count"
            " for nothing here: run `allotment score`[/]"
        )
    table = Table("#", "customer", "tier", "P(churn)", "at risk", "open", "why", "orders")
    for e in result.entries[:limit]:
        orders = "; ".join(
            f"{o.order} {o.sku} ×{o.open_quantity}"
            + (f" ETA {o.eta_p50}–{o.eta_p90}" if o.eta_p50 else " ETA unknown")
            for o in e.orders[:3]
        ) + (f" (+{len(e.orders) - 3} more)" if len(e.orders) > 3 else "")
        table.add_row(
            str(e.rank),
            e.customer,
            e.tier,
            f"{e.p_churn:.0%}" if e.p_churn is not None else "—",
            f"${e.expected_value_at_risk:,.0f}",
            f"${e.open_value:,.0f}",
            "; ".join(e.reasons),
            orders,
        )
    console.print(table)
