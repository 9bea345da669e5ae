"""Health, readiness, authentication and model-registry bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from allotment.users.roles import Role


class HealthRead(BaseModel):
    status: Literal["ok"]


class ModelReadiness(BaseModel):
    task: str
    loaded: bool
    name: str | None
    version: int | None
    problem: str | None


class ReadyRead(BaseModel):
    """``ready``: all good; ``degraded``: serving, but some models fall back to rule terms;
    ``unavailable``: the database cannot serve (HTTP 503)."""

    status: Literal["ready", "degraded", "unavailable"]
    database: bool
    migration: str | None
    migration_head: str | None
    models: list[ModelReadiness]
    missing_models: list[str]
    problems: list[str]


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int  # seconds


class MeRead(BaseModel):
    name: str
    role: Role
    via: str


class ModelRead(BaseModel):
    """A registered model version with its headline metrics."""

    name: str
    version: int
    aliases: list[str]
    champion: bool
    auc: float | None
    oracle_auc: float | None
    auc_oracle_ratio: float | None
    ece: float | None
    created: datetime
    run_id: str | None


class ChampionRead(BaseModel):
    """The version serving one risk model (``champion`` null: none promoted; rules only)."""

    task: str
    name: str
    champion: ModelRead | None
