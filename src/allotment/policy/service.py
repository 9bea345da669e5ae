"""Policy versions: drafts, activation (exactly one active, audited), the active policy.

Services flush; the caller (CLI command, API request) commits or rolls back.

Exactly one version is active: activation retires the active version and activates the new one
in one transaction, and the partial unique index ``uq_policy_versions_one_active`` makes a second
active row impossible even when two activations race (the loser gets
:class:`PolicyActivationConflictError` and changes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from allotment import audit
from allotment.db.types import utcnow
from allotment.domain.enums import PolicyStatus
from allotment.domain.models import PolicyVersion
from allotment.errors import AppError
from allotment.policy import repository as repo
from allotment.policy.documents import checksum, from_document, shipped_policy, to_document
from allotment.policy.schema import Policy

#: Who installs the shipped default into a database that has no active policy.
SYSTEM_ACTOR = "system"


class PolicyActivationConflictError(AppError):
    """Another activation committed at the same time; this one changed nothing."""

    status_code = 409
    code = "policy_activation_conflict"


class PolicyVersionConflictError(AppError):
    """Another version of the same policy name was stored at the same time."""

    status_code = 409
    code = "policy_version_conflict"


class PolicyActivationError(AppError):
    """An activation request that cannot be carried out as asked (no reason, no document)."""

    status_code = 422
    code = "policy_activation_invalid"


def summary(row: PolicyVersion) -> dict[str, Any]:
    """Identity of a version as recorded in audit records."""
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "status": row.status.value,
        "checksum": row.checksum,
    }


def policy_of(row: PolicyVersion) -> Policy:
    """The validated document of a stored version."""
    return from_document(row.document, where=f"policy {row.name!r} v{row.version} (id {row.id})")


def create_draft(
    session: Session,
    *,
    document: Policy,
    author: str,
    role: str | None = None,
    reason: str | None = None,
) -> PolicyVersion:
    """Store ``document`` as the next draft version of its name (audited)."""
    version = repo.next_version_number(session=session, name=document.name)
    try:
        row = repo.add(
            session=session,
            row=PolicyVersion(
                name=document.name,
                version=version,
                status=PolicyStatus.DRAFT,
                document=to_document(document),
                checksum=checksum(document),
                author=author,
                reason=reason,
                created_at=utcnow(),
            ),
        )
    except IntegrityError as exc:
        raise PolicyVersionConflictError(
            f"another version {version} of policy {document.name!r} was stored at the same time;"
            " nothing was changed (retry)"
        ) from exc
    audit.append(
        session,
        actor=author,
        role=role,
        action="policy.drafted",
        entity_type="policy_version",
        entity_id=row.id,
        before=None,
        after=summary(row),
        reason=reason,
        policy_version_id=row.id,
    )
    return row


def activate(
    session: Session,
    *,
    policy_version_id: int | None = None,
    document: Policy | None = None,
    actor: str,
    role: str | None,
    reason: str,
) -> PolicyVersion:
    """Make a version (or a document, stored as a new draft first) the active policy.

    An identical document already stored under the same name is reused rather than stored
    again. The previously active version is retired; both changes are audited. Activating the
    version that is already active changes and records nothing (the call is idempotent).

    Raises
    ------
    PolicyActivationError
        No reason, or not exactly one of ``policy_version_id`` and ``document``.
    PolicyNotFoundError
        ``policy_version_id`` does not exist.
    PolicyActivationConflictError
        Another activation committed concurrently (the database refused a second active row).
    PolicyVersionConflictError
        Another version of the document's name was stored concurrently.
    """
    if not reason or not reason.strip():
        raise PolicyActivationError("activating a policy needs a reason", field="reason")
    if (policy_version_id is None) == (document is None):
        raise PolicyActivationError("give exactly one of policy_version_id and document")
    if document is not None:
        existing = repo.find_by_checksum(
            session=session, name=document.name, checksum=checksum(document)
        )
        if existing is None:
            existing = create_draft(
                session, document=document, author=actor, role=role, reason=reason
            )
        policy_version_id = existing.id
    assert policy_version_id is not None
    target = repo.get_version(session=session, policy_version_id=policy_version_id, for_update=True)
    if target.status is PolicyStatus.ACTIVE:
        return target  # idempotent: nothing changes, so nothing is recorded

    now = utcnow()
    previous = repo.active_version(session=session, for_update=True)
    before = summary(previous) if previous is not None else None
    try:
        if previous is not None:
            previous.status = PolicyStatus.RETIRED
            previous.retired_at = now
            # Retire first: the one-active index is checked row by row, so the new row may only
            # become active once the old one is no longer.
            session.flush()
        target.status = PolicyStatus.ACTIVE
        target.effective_from = now
        target.retired_at = None
        session.flush()
    except IntegrityError as exc:
        raise PolicyActivationConflictError(
            "another policy activation committed at the same time; nothing was changed"
            " (check `allotment policy show` and retry)"
        ) from exc

    if previous is not None:
        audit.append(
            session,
            actor=actor,
            role=role,
            action="policy.retired",
            entity_type="policy_version",
            entity_id=previous.id,
            before={"status": PolicyStatus.ACTIVE.value},
            after={"status": PolicyStatus.RETIRED.value, "retired_at": now, "by": target.id},
            reason=reason,
            policy_version_id=previous.id,
        )
    audit.append(
        session,
        actor=actor,
        role=role,
        action="policy.activated",
        entity_type="policy_version",
        entity_id=target.id,
        before={"active": before},
        after={"active": summary(target), "effective_from": now},
        reason=reason,
        policy_version_id=target.id,
    )
    return target


def active_policy(session: Session) -> tuple[PolicyVersion, Policy]:
    """The active version and its document.

    A database without an active policy gets the shipped ``default`` installed and activated by
    ``system`` (audited), so every database has one. Concurrent first calls install it once.
    """
    row = repo.active_version(session=session)
    if row is None:
        try:
            with session.begin_nested():
                row = activate(
                    session,
                    document=shipped_policy("default"),
                    actor=SYSTEM_ACTOR,
                    role=SYSTEM_ACTOR,
                    reason="no active policy: installed the shipped default",
                )
        except (
            IntegrityError,
            PolicyActivationConflictError,
            PolicyVersionConflictError,
        ):
            # Another transaction installed it first; use theirs.
            row = repo.active_version(session=session)
            if row is None:
                raise
    return row, policy_of(row)


def policy_in_force(session: Session) -> Policy:
    """The active policy's document, else the shipped ``default`` — read-only.

    For side effects of other changes (the notifications of a new backorder): unlike
    :func:`active_policy` it never installs a policy, so creating a backorder does not write a
    policy version and its audit record.
    """
    row = repo.active_version(session=session)
    return shipped_policy("default") if row is None else policy_of(row)


def get_policy(session: Session, *, policy_version_id: int) -> tuple[PolicyVersion, Policy]:
    """A version by id, with its document."""
    row = repo.get_version(session=session, policy_version_id=policy_version_id)
    return row, policy_of(row)


def find_policy(
    session: Session, *, name: str, version: int | None = None
) -> tuple[PolicyVersion, Policy]:
    """Version ``version`` of ``name`` (its latest when ``version`` is None), with its document."""
    row = repo.find_version(session=session, name=name, version=version)
    return row, policy_of(row)


def list_policies(session: Session, *, name: str | None = None) -> Sequence[PolicyVersion]:
    """Every stored version (of one name), newest first."""
    return repo.list_versions(session=session, name=name)
