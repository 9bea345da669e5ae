"""Policy commands: show, list, validate, activate, and the approval route of an amount."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from allotment.cli.common import app_errors, default_actor, err_console, unit_of_work
from allotment.domain.enums import Tier
from allotment.domain.models import PolicyVersion
from allotment.policy import repository as repo
from allotment.policy import service as svc
from allotment.policy.documents import PolicyDocumentError, checksum, load_policy_file
from allotment.policy.routing import (
    ApprovalAmountInvalidError,
    band_text,
    role_label,
    route,
    tier_label,
    to_cents,
    usd,
)
from allotment.policy.schema import Policy

app = typer.Typer(
    no_args_is_help=True,
    help="Show, validate and activate policies; see the approval route of an amount.",
)
console = Console()

ActorOpt = typer.Option(None, "--actor", help="Who is acting (default: cli:<login>).")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")

#: Exit status of ``validate`` and ``activate`` for an invalid policy file.
EXIT_INVALID = 2


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _version_dict(row: PolicyVersion, *, document: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "status": row.status.value,
        "checksum": row.checksum,
        "author": row.author,
        "reason": row.reason,
        "created_at": row.created_at.isoformat(),
        "effective_from": row.effective_from.isoformat() if row.effective_from else None,
        "retired_at": row.retired_at.isoformat() if row.retired_at else None,
    }
    if document:
        data["document"] = row.document
    return data


def _load_or_exit(file: Path) -> Policy:
    """The validated policy in ``file``, or the problems on stderr and exit status 2."""
    try:
        return load_policy_file(file)
    except PolicyDocumentError as exc:
        err_console.print(f"[bold red]invalid:[/] {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INVALID) from None


def _x(value: float) -> str:
    return f"×{value:g}"


def _print_policy(row: PolicyVersion, policy: Policy) -> None:
    state = {
        "active": f"active since {_when(row.effective_from)}",
        "retired": f"retired {_when(row.retired_at)}",
        "draft": f"draft created {_when(row.created_at)}",
    }[row.status.value]
    console.print(
        f"[bold]{row.name}[/] v{row.version} (id {row.id}) — {state}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"checksum {row.checksum[:12]}…  author {row.author}  reason: {row.reason or '—'}",
        highlight=False,
        soft_wrap=True,
    )
    if policy.description:
        console.print(policy.description, highlight=False, soft_wrap=True)
    m = policy.multipliers
    tiers = ", ".join(f"{tier_label(t)} {_x(m.tier[t])}" for t in Tier)
    console.print(
        f"\n[bold]multipliers[/]  {tiers}; emergency {_x(m.emergency)}",
        highlight=False,
        soft_wrap=True,
    )
    b = policy.blend
    w = b.weights
    console.print(
        f"[bold]blend[/]  {'risk models + rule terms' if b.use_models else 'rule terms only'};"
        f" weights sla {w.sla:g}, churn {w.churn:g}, delay {w.delay:g}, value {w.value:g},"
        f" margin {w.margin:g}, age {w.age:g} (${b.age_usd_per_day:g}/day waited)",
        highlight=False,
        soft_wrap=True,
    )
    a = policy.approvals
    table = Table("amount (USD)", "approved by", title=f"approvals ({a.chain} chain)")
    for i, step in enumerate(a.steps):
        who = (
            "automatic, notify " + ", ".join(role_label(r) for r in a.notify_on_auto)
            if step.role == "auto"
            else role_label(step.role)
        )
        table.add_row(band_text(a.steps, i), who)
    for tier, role in a.always_add.items():
        table.add_row(f"{tier_label(tier)} customer, any amount", f"+ {role_label(role)}")
    console.print(table)
    esc = Table("days overdue", "action", title="escalations")
    for t in policy.escalations:
        esc.add_row(str(t.days_overdue), f"{t.action} {role_label(t.role)}")
    console.print(esc)
    notes = Table("event", "who", "cadence", "tiers", title="notifications")
    for n in policy.notifications:
        notes.add_row(
            n.event,
            ", ".join(role_label(r) for r in n.roles),
            n.cadence,
            ", ".join(tier_label(t) for t in n.tiers) or "all",
        )
    console.print(notes)
    o = policy.outreach
    console.print(
        f"[bold]outreach[/]  churn risk ≥ {o.min_churn_risk:g} or SLA-breach risk ≥"
        f" {o.min_sla_breach_risk:g}, value at risk ≥ {usd(o.min_value_at_risk)};"
        f" at most {o.max_customers} customers",
        highlight=False,
        soft_wrap=True,
    )
    al = policy.allocation
    shares = ", ".join(f"{tier_label(t)} {s:.0%}" for t, s in al.protected_share.items())
    console.print(
        f"[bold]allocation[/]  protected share {shares}; contract minimum fill"
        f" {'enforced' if al.enforce_contract_minimum_fill else 'not enforced'};"
        f" lateness ${al.lateness_cost_per_unit_day}/unit/day",
        highlight=False,
        soft_wrap=True,
    )


@app.command("show")
def show(
    name: str | None = typer.Option(None, "--name", help="Policy name (default: the active)."),
    version: int | None = typer.Option(None, "--version", help="Version (default: latest)."),
    as_json: bool = JsonOpt,
) -> None:
    """Show the active policy, or a stored version, as a summary or as JSON."""
    with app_errors(), unit_of_work() as session:
        if name is None and version is None:
            row, policy = svc.active_policy(session)
        else:
            if name is None:
                name = svc.active_policy(session)[0].name
            row, policy = svc.find_policy(session, name=name, version=version)
        data = _version_dict(row, document=True)
    if as_json:
        _print_json(data)
        return
    _print_policy(row, policy)


@app.command("list")
def list_(
    name: str | None = typer.Option(None, "--name", help="Only this policy name."),
    as_json: bool = JsonOpt,
) -> None:
    """List stored policy versions, newest first."""
    with app_errors(), unit_of_work() as session:
        svc.active_policy(session)  # a database always has one
        rows = [_version_dict(r, document=False) for r in svc.list_policies(session, name=name)]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "name", "version", "status", "effective from", "author", "reason")
    for r in rows:
        since = r["effective_from"] or r["created_at"]
        table.add_row(
            str(r["id"]),
            r["name"],
            str(r["version"]),
            r["status"],
            datetime.fromisoformat(since).strftime("%Y-%m-%d %H:%M") if since else "—",
            r["author"],
            r["reason"] or "",
        )
    console.print(table)


@app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="Policy YAML file."),
) -> None:
    """Check a policy file: exit 0 if valid, 2 with the file, key and reason if not."""
    policy = _load_or_exit(file)
    typer.echo(f"{file}: valid (policy {policy.name!r}, checksum {checksum(policy)[:12]})")


@app.command("activate")
def activate(
    file: Path | None = typer.Argument(None, help="Policy YAML file to store and activate."),
    policy_version_id: int | None = typer.Option(
        None, "--id", help="Re-activate a stored version instead of a file (e.g. to roll back)."
    ),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the audit trail)."),
    actor: str | None = ActorOpt,
    role: str | None = typer.Option(None, "--role", help="The actor's role (recorded)."),
) -> None:
    """Make a policy file (or a stored version) the active policy; the previous one retires."""
    if (file is None) == (policy_version_id is None):
        raise typer.BadParameter("give a policy FILE or --id, not both")
    if not reason.strip():
        raise typer.BadParameter("must not be empty", param_hint="--reason")
    document = _load_or_exit(file) if file is not None else None
    with app_errors(), unit_of_work() as session:
        previous = repo.active_version(session=session)
        row = svc.activate(
            session,
            policy_version_id=policy_version_id,
            document=document,
            actor=actor or default_actor(),
            role=role,
            reason=reason,
        )
        if previous is not None and previous.id == row.id:
            which = f"{row.name} v{row.version} (id {row.id})"
            typer.echo(f"{which} is already active; nothing changed")
            return
        retired = (
            f"; retired {previous.name} v{previous.version} (id {previous.id})" if previous else ""
        )
        typer.echo(f"activated {row.name} v{row.version} (id {row.id}){retired}")


def _amount(value: str) -> Decimal:
    try:
        return to_cents(Decimal(value.replace("$", "").replace(",", "").strip()))
    except (InvalidOperation, ApprovalAmountInvalidError):
        raise typer.BadParameter(
            f"{value!r} is not an amount in USD (e.g. 12500 or 12,500.00)", param_hint="AMOUNT"
        ) from None


@app.command("route")
def route_(
    amount: str = typer.Argument(..., help="Recommendation amount in USD, e.g. 12500 or 12,500."),
    tier: Tier | None = typer.Option(None, "--tier", help="Customer tier."),
    customer: str | None = typer.Option(
        None, "--customer", help="Customer id or code (its tier is used)."
    ),
    requested_by: str | None = typer.Option(None, "--requested-by", help="Who asks."),
    as_json: bool = JsonOpt,
) -> None:
    """Print the approval chain an AMOUNT needs under the active policy, and why."""
    value = _amount(amount)
    if tier is None and customer is None:
        raise typer.BadParameter("give --tier or --customer", param_hint="--tier")
    with app_errors(), unit_of_work() as session:
        row, policy = svc.active_policy(session)
        who = ""
        if customer is not None:
            found = repo.find_customer(session=session, key=customer)
            if tier is not None and tier != found.tier:
                raise typer.BadParameter(
                    f"customer {found.code} is {found.tier.value}, not {tier.value}",
                    param_hint="--tier",
                )
            tier = found.tier
            who = f"{found.name} ({found.code}), "
            account_manager = found.account_manager
        else:
            account_manager = None
        assert tier is not None
        result = route(policy, value, tier=tier, requested_by=requested_by)
        where = f"policy {row.name} v{row.version}"
    if as_json:
        _print_json({**result.to_dict(), "policy_version_id": row.id, "customer": customer})
        return
    console.print(
        f"{usd(result.amount)} for {who}{tier_label(tier)} customer, {where}:", highlight=False
    )
    if result.auto:
        notify = ", ".join(role_label(r) for r in result.notify) or "nobody"
        console.print(f"  [bold]automatic[/] (notify {notify})", highlight=False, soft_wrap=True)
    else:
        steps = []
        for r in result.chain:
            named = f" ({account_manager})" if r == "account_manager" and account_manager else ""
            steps.append(f"{role_label(r)}{named}")
        console.print("  [bold]" + " → ".join(steps) + "[/]", highlight=False, soft_wrap=True)
    for reason in result.reasons:
        console.print(f"  - {reason}", highlight=False, soft_wrap=True)


@app.command("whatif")
def whatif(
    file: Path = typer.Argument(..., help="Draft policy YAML file (not activated)."),
    head: int = typer.Option(100, "--head", min=1, help="Length of the queue's head (lines)."),
    movers: int = typer.Option(10, "--movers", min=1, help="How many of the biggest moves."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Preview a draft policy on the current backlog: re-ranked queue, movers, tier shift."""
    from allotment.scoring.service import exposures_of
    from allotment.scoring.whatif import scoring_day, what_if

    draft = _load_or_exit(file)
    with app_errors(), unit_of_work() as session:
        active = svc.active_policy(session)
        result = what_if(
            session,
            draft=draft,
            active=active,
            exposures_of=exposures_of,
            as_of=scoring_day(session),
            head=head,
            top_movers=movers,
        )
        session.rollback()  # a preview: whatever the reads touched is not kept
    if as_json:
        _print_json(result.to_dict())
        return
    console = Console(highlight=False)
    console.print(
        f"[bold]{result.draft}[/] (draft) against [bold]{result.active}[/] (active) on"
        f" {result.backlog:,} open backorders as of {result.as_of}; Spearman rank correlation"
        f" {result.spearman:.3f}"
    )
    if result.unscored:
        console.print(
            f"[yellow]{result.unscored:,} backorders have no score yet (run `allotment score`);"
            " a model-based policy ranks them on rule terms only[/]"
        )
    table = Table("new", "was", "backorder", "customer", "tier", "priority now", "draft", "why")
    for m in result.queue[:20]:
        table.add_row(
            str(m.new_rank),
            str(m.old_rank),
            m.number,
            m.customer,
            m.tier,
            f"{m.old_priority:,.0f}",
            f"{m.new_priority:,.0f}",
            "; ".join(m.reasons),
        )
    console.print(table, "(the draft's first 20)")
    moved = Table("backorder", "tier", "was", "new", "moved", "why", title="biggest moves")
    for m in result.movers:
        moved.add_row(
            m.number,
            m.tier,
            str(m.old_rank),
            str(m.new_rank),
            f"{m.moved:+d}",
            "; ".join(m.reasons),
        )
    console.print(moved)
    tiers = Table(
        "tier",
        "backorders",
        "priority share now",
        "draft",
        f"value in first {result.head} now",
        "draft",
        "shift",
        title="money shifted between tiers",
    )
    for t in result.tiers:
        tiers.add_row(
            t.tier,
            f"{t.backorders:,}",
            f"{t.old_priority_share:.1%}",
            f"{t.new_priority_share:.1%}",
            f"${t.old_head_value:,.0f}",
            f"${t.new_head_value:,.0f}",
            f"{t.head_value_shift:+,.0f}",
        )
    console.print(tiers)
