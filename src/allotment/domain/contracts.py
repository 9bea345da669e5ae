"""Contract versions: a change never edits a contract, it creates the next version.

Services flush; the caller commits (and re-prioritizes the customer's backorders).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from allotment.audit import changes
from allotment.domain import repository as repo
from allotment.domain.enums import Tier
from allotment.domain.errors import ContractChangeError
from allotment.domain.models import Contract, Customer

#: Contract terms a change may set; a term not given is carried over from the current version.
TERMS = (
    "sla_days",
    "fill_rate_commitment",
    "penalty_rate_per_day",
    "penalty_cap_rate",
    "allows_partial_ship",
    "allows_substitution",
    "renewal_date",
)
DEFAULTS: dict[str, Any] = {
    "penalty_rate_per_day": 0.0,
    "penalty_cap_rate": 0.0,
    "allows_partial_ship": True,
    "allows_substitution": False,
}


def change_contract(
    session: Session,
    *,
    customer: Customer,
    effective_from: date,
    terms: dict[str, Any],
    tier: Tier | None = None,
) -> Contract:
    """Create the customer's next contract version (and set a new tier, if given).

    The current version ends the day before ``effective_from``; a first contract needs
    ``sla_days``, ``fill_rate_commitment`` and ``renewal_date``.
    """
    unknown = sorted(set(terms) - set(TERMS))
    if unknown:
        raise ContractChangeError(f"unknown contract term(s): {', '.join(unknown)}")
    current = repo.current_contract(session=session, customer_id=customer.id)
    if current is not None:
        if effective_from <= current.effective_from:
            raise ContractChangeError(
                f"contract change effective {effective_from} is not after the current version"
                f" {current.version} (effective {current.effective_from})",
                field="effective_from",
            )
        values = {t: getattr(current, t) for t in TERMS}
        version = current.version + 1
        current.effective_to = effective_from - timedelta(days=1)
    else:
        missing = [
            t for t in ("sla_days", "fill_rate_commitment", "renewal_date") if t not in terms
        ]
        if missing:
            raise ContractChangeError(
                f"customer {customer.code} has no contract: a first one needs {', '.join(missing)}",
                field=missing[0],
            )
        values, version = dict(DEFAULTS), 1
    values.update(terms)
    contract = Contract(
        customer_id=customer.id, version=version, effective_from=effective_from, **values
    )
    session.add(contract)
    old_tier = customer.tier
    if tier is not None:
        customer.tier = tier
    session.flush()
    changes.note(
        session,
        changes.contract_changed(
            customer.id,
            old_version=None if current is None else current.version,
            old_tier=old_tier,
            old_effective_from=None if current is None else current.effective_from,
            old_terms=None if current is None else {t: getattr(current, t) for t in TERMS},
            version=version,
            tier=customer.tier,
            effective_from=effective_from,
            terms=values,
        ),
    )
    return contract
