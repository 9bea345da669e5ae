"""Allotment: explained backorder prioritization and allocation.

Entry point of the ``allotment`` console script.
"""

from __future__ import annotations

import typer

from allotment.cli import allocate as allocate_cli
from allotment.cli import approvals as approvals_cli
from allotment.cli import audit as audit_cli
from allotment.cli import backorders as backorders_cli
from allotment.cli import db as db_cli
from allotment.cli import demo as demo_cli
from allotment.cli import escalate as escalate_cli
from allotment.cli import events as events_cli
from allotment.cli import generate as generate_cli
from allotment.cli import io as io_cli
from allotment.cli import models as models_cli
from allotment.cli import notify as notify_cli
from allotment.cli import outreach as outreach_cli
from allotment.cli import policy as policy_cli
from allotment.cli import recommend as recommend_cli
from allotment.cli import score as score_cli
from allotment.cli import serve as serve_cli
from allotment.cli import train as train_cli
from allotment.cli import users as users_cli

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Allotment: explained backorder prioritization and allocation.",
)
app.add_typer(db_cli.app, name="db")
app.add_typer(backorders_cli.app, name="backorders")
app.add_typer(models_cli.app, name="models")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(users_cli.app, name="users")
app.add_typer(approvals_cli.app, name="approvals")
app.add_typer(events_cli.app, name="events")
app.command("import")(io_cli.import_)
app.command("export")(io_cli.export_)
app.command("generate")(generate_cli.generate)
app.command("demo")(demo_cli.demo)
app.command("train")(train_cli.train)
app.command("score")(score_cli.score)
app.command("explain")(score_cli.explain)
app.command("outreach")(outreach_cli.outreach)
app.command("allocate")(allocate_cli.allocate)
app.command("recommend")(recommend_cli.recommend)
app.command("serve")(serve_cli.serve)
app.command("escalate")(escalate_cli.escalate)
app.command("notify")(notify_cli.notify)
