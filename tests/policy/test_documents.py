"""Policy files: the shipped defaults hold the handbook's numbers; bad files name the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from allotment.domain.enums import Tier
from allotment.policy.documents import (
    SHIPPED_POLICIES,
    PolicyDocumentError,
    checksum,
    from_document,
    load_policy_file,
    shipped_policy,
    shipped_policy_path,
    to_document,
)
from allotment.policy.schema import Policy


def test_default_policy_holds_the_handbook_settings() -> None:
    policy = shipped_policy("default")
    assert policy.name == "default"
    assert policy.multipliers.tier == {Tier.VIP: 5.0, Tier.PREMIUM: 3.0, Tier.STANDARD: 1.0}
    assert policy.multipliers.emergency == 10.0
    assert [(s.min_amount, s.role) for s in policy.approvals.steps] == [
        (Decimal("0"), "auto"),
        (Decimal("1000"), "supervisor"),
        (Decimal("10000"), "manager"),
        (Decimal("50000.01"), "director"),
    ]
    assert policy.approvals.always_add == {Tier.VIP: "account_manager"}
    assert [(e.days_overdue, e.role, e.action) for e in policy.escalations] == [
        (3, "supervisor", "notify"),
        (7, "manager", "escalate"),
        (14, "director", "involve"),
        (21, "executive", "review"),
    ]
    assert [(n.event, n.roles, n.cadence, n.tiers) for n in policy.notifications] == [
        ("backorder_created", ("customer_service", "sales_rep"), "immediate", ()),
        ("backorder_created", ("purchasing_manager",), "daily_digest", ()),
        ("backorder_created", ("operations_director",), "weekly_summary", ()),
        ("escalated", ("account_manager",), "immediate", (Tier.VIP,)),
    ]
    assert policy.blend.use_models


def test_static_tier_is_the_static_rule_and_otherwise_the_default() -> None:
    static, default = shipped_policy("static-tier"), shipped_policy("default")
    assert not static.blend.use_models
    weights = static.blend.weights.model_dump()
    assert {k for k, w in weights.items() if w} == {"value", "age"}
    same = {"multipliers", "approvals", "escalations", "notifications", "outreach", "allocation"}
    for part in same:
        assert getattr(static, part) == getattr(default, part), part


def test_shipped_files_are_in_the_package() -> None:
    for name in SHIPPED_POLICIES:
        path = shipped_policy_path(name)
        assert path.is_file() and path.parent.name == "defaults"
        assert path.parent.parent.name == "policy"
    with pytest.raises(PolicyDocumentError, match="no shipped policy named 'vip-first'"):
        shipped_policy_path("vip-first")


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _default_document() -> dict[str, object]:
    return yaml.safe_load(shipped_policy_path("default").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["approvals"]["steps"][1].update(rol="x"),
            "unknown key 'approvals.steps.1.rol'",
        ),
        (lambda d: d["multipliers"].update(emergency="lots"), "multipliers.emergency:"),
        (lambda d: d["approvals"]["steps"][2].update(role="boss"), "approvals.steps.2.role:"),
        (lambda d: d["multipliers"]["tier"].pop("premium"), "missing tier multiplier(s): premium"),
        (
            lambda d: d["approvals"]["steps"].reverse(),
            "the first approval step must start at min_amount 0",
        ),
        (
            lambda d: d["approvals"]["steps"][3].update(min_amount="50000.005"),
            "whole cents",
        ),
        (lambda d: d["approvals"]["steps"][2].update(role="supervisor"), "only one approval step"),
        (lambda d: d["approvals"]["steps"][2].update(role="auto"), "only the first approval step"),
        (
            lambda d: d["blend"].update(use_models=False),
            "with use_models false, weights.sla, churn and delay must be 0",
        ),
        (lambda d: d["escalations"].reverse(), "strictly increasing"),
    ],
)
def test_an_invalid_file_names_the_file_and_the_key(
    tmp_path: Path, edit: object, message: str
) -> None:
    document = _default_document()
    edit(document)  # type: ignore[operator]
    path = _write(tmp_path, document)
    with pytest.raises(PolicyDocumentError) as caught:
        load_policy_file(path)
    assert str(path) in caught.value.message
    assert message in caught.value.message


def test_unreadable_and_non_mapping_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyDocumentError, match="cannot read policy document"):
        load_policy_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(PolicyDocumentError, match="not valid YAML"):
        load_policy_file(bad)
    listy = _write(tmp_path, ["a", "list"])
    with pytest.raises(PolicyDocumentError, match="expected a mapping"):
        load_policy_file(listy)


def test_checksum_depends_on_content_not_on_file_layout(tmp_path: Path) -> None:
    document = _default_document()
    reordered = dict(reversed(list(document.items())))
    a = load_policy_file(_write(tmp_path, document))
    b_path = tmp_path / "other.yaml"
    b_path.write_text(yaml.safe_dump(reordered, sort_keys=False), encoding="utf-8")
    assert checksum(a) == checksum(load_policy_file(b_path)) == checksum(shipped_policy())
    changed = a.model_copy(update={"description": "changed"})
    assert checksum(changed) != checksum(a)


def test_stored_document_round_trips_and_a_broken_one_is_named() -> None:
    policy = shipped_policy("default")
    assert from_document(to_document(policy)) == policy
    broken = to_document(policy) | {"surprise": 1}
    with pytest.raises(PolicyDocumentError, match="policy 'x' v2 does not validate: surprise"):
        from_document(broken, where="policy 'x' v2")


def test_schema_defaults_match_the_shipped_default_except_the_texts() -> None:
    """Code that builds ``Policy(name=...)`` gets the same numbers as the shipped file."""
    shipped = shipped_policy("default")
    assert Policy(name="default", description=shipped.description) == shipped
