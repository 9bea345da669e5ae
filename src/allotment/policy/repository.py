"""SQL for policy versions. Keyword-only, typed; never commits (the caller does)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allotment.domain.enums import PolicyStatus
from allotment.domain.models import Customer, PolicyVersion
from allotment.errors import NotFoundError


class PolicyNotFoundError(NotFoundError):
    """No policy version with that id, or that name and version."""

    code = "policy_not_found"


def get_version(
    *, session: Session, policy_version_id: int, for_update: bool = False
) -> PolicyVersion:
    stmt = select(PolicyVersion).where(PolicyVersion.id == policy_version_id)
    if for_update:
        # populate_existing: a row this session already holds is refreshed to its locked state.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise PolicyNotFoundError(
            f"policy version {policy_version_id} does not exist",
            policy_version_id=policy_version_id,
        )
    return row


def find_version(*, session: Session, name: str, version: int | None = None) -> PolicyVersion:
    """Version ``version`` of policy ``name``, or its latest version when ``version`` is None."""
    stmt = select(PolicyVersion).where(PolicyVersion.name == name)
    if version is not None:
        stmt = stmt.where(PolicyVersion.version == version)
    row = session.scalars(stmt.order_by(PolicyVersion.version.desc()).limit(1)).one_or_none()
    if row is None:
        which = f"{name!r} version {version}" if version is not None else repr(name)
        raise PolicyNotFoundError(f"no policy {which}", name=name, version=version)
    return row


def find_by_checksum(*, session: Session, name: str, checksum: str) -> PolicyVersion | None:
    """The latest version of ``name`` whose document has this checksum."""
    return session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.name == name, PolicyVersion.checksum == checksum)
        .order_by(PolicyVersion.version.desc())
        .limit(1)
    ).one_or_none()


def active_version(*, session: Session, for_update: bool = False) -> PolicyVersion | None:
    stmt = select(PolicyVersion).where(PolicyVersion.status == PolicyStatus.ACTIVE)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def active_version_id(*, session: Session) -> int | None:
    """The active version's id (``None`` when none is active: the shipped default is in force)."""
    return session.scalar(
        select(PolicyVersion.id).where(PolicyVersion.status == PolicyStatus.ACTIVE)
    )


def next_version_number(*, session: Session, name: str) -> int:
    latest = session.scalar(
        select(func.max(PolicyVersion.version)).where(PolicyVersion.name == name)
    )
    return int(latest or 0) + 1


def list_versions(*, session: Session, name: str | None = None) -> Sequence[PolicyVersion]:
    """Every version (of one name), newest first."""
    stmt = select(PolicyVersion).order_by(PolicyVersion.id.desc())
    if name is not None:
        stmt = stmt.where(PolicyVersion.name == name)
    return session.scalars(stmt).all()


def add(*, session: Session, row: PolicyVersion) -> PolicyVersion:
    session.add(row)
    session.flush()
    return row


def find_customer(*, session: Session, key: str) -> Customer:
    """A customer by id (all digits) or by code (for ``policy route --customer``)."""
    if key.isdigit():
        found = session.get(Customer, int(key))
    else:
        found = session.scalars(select(Customer).where(Customer.code == key)).one_or_none()
    if found is None:
        raise NotFoundError(f"customer {key} does not exist", customer=key)
    return found
