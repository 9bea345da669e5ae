"""Explanation bodies: one backorder's decomposition, or why it ranks above another."""

from __future__ import annotations

from pydantic import BaseModel

from allotment.scoring.explanation import BLEND_METHOD, BackorderExplanation


class FeatureDifference(BaseModel):
    """A feature's part of a component for the backorder minus the other's (USD)."""

    component: str
    feature: str
    usd: float


class ExplanationRead(BaseModel):
    """Components (USD) adding up to the priority, each split into feature parts; with ``vs``,
    the other backorder's too and the differences (this one minus the other)."""

    method: str = BLEND_METHOD
    backorder: BackorderExplanation
    vs: BackorderExplanation | None = None
    difference: float | None = None
    component_differences: dict[str, float] | None = None
    feature_differences: list[FeatureDifference] | None = None
