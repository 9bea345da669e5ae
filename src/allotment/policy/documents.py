"""Policy documents as files and as stored JSON: loading, the shipped defaults, checksums.

A policy file is YAML that validates as :class:`~allotment.policy.schema.Policy`; unknown keys
and invalid values are refused with the file and the dotted key path in the message. In the
database a document is stored in its complete JSON form (every default written out, Decimals as
strings), so a later change of a schema default never changes a stored policy, and its checksum is
the sha256 of that form's canonical JSON.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from allotment.audit.canonical import canonical_json, sha256_hex
from allotment.errors import AppError
from allotment.policy.schema import Policy

#: Folder of the policies shipped with the package (package data).
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"

#: The shipped policies: ``default`` (ML blend, handbook settings) and ``static-tier``.
SHIPPED_POLICIES = ("default", "static-tier")


class PolicyDocumentError(AppError):
    """A policy file or stored document is missing, malformed or fails validation."""

    status_code = 422
    code = "policy_document_invalid"


def load_policy_file(path: str | Path) -> Policy:
    """Read and validate a policy YAML file.

    Parameters
    ----------
    path
        The YAML file.

    Returns
    -------
    Policy

    Raises
    ------
    PolicyDocumentError
        The file cannot be read, is not a YAML mapping, or fails validation; the message names
        the file and each offending key by its dotted path (``approvals.steps.2.role: ...``).
    """
    # Imported here: allotment.modeling pulls in the feature code (~0.6 s), which commands that
    # only read stored policies do not need.
    from allotment.modeling.config import load_yaml_model

    return load_yaml_model(path, Policy, PolicyDocumentError, "policy document")


def parse_policy_text(text: str, *, where: str = "policy draft") -> Policy:
    """Validate a policy given as YAML text (a draft edited in the dashboard).

    Raises
    ------
    PolicyDocumentError
        Not YAML, not a mapping, or fails validation; each offending key by its dotted path.
    """
    from allotment.modeling.config import load_yaml_text

    return load_yaml_text(text, Policy, PolicyDocumentError, "policy document", where=where)


def shipped_policy_path(name: str) -> Path:
    """The file of a shipped policy (``default`` or ``static-tier``)."""
    if name not in SHIPPED_POLICIES:
        raise PolicyDocumentError(
            f"no shipped policy named {name!r} (shipped: {', '.join(SHIPPED_POLICIES)})"
        )
    return DEFAULTS_DIR / f"{name}.yaml"


@cache
def shipped_policy(name: str = "default") -> Policy:
    """A shipped policy, validated (cached: the files do not change while running)."""
    return load_policy_file(shipped_policy_path(name))


def to_document(policy: Policy) -> dict[str, Any]:
    """The complete JSON form of ``policy`` as stored in ``policy_versions.document``."""
    return policy.model_dump(mode="json")


def checksum(policy: Policy) -> str:
    """sha256 (hex) of the canonical JSON of the policy's complete document."""
    return sha256_hex(canonical_json(to_document(policy)))


def from_document(document: dict[str, Any], *, where: str = "stored policy") -> Policy:
    """Validate a stored document back into a :class:`Policy`.

    Raises
    ------
    PolicyDocumentError
        The stored document no longer validates (the schema changed incompatibly); ``where``
        names it in the message.
    """
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise PolicyDocumentError(
            f"{where} does not validate: " + "; ".join(problems), problems=problems
        ) from None
