"""Fast password hashing for tests: argon2id with minimal cost (the format is unchanged)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from allotment.users import service


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        service, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
