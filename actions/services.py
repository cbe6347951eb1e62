"""What the actions need from the outside world, built once on first use (never at import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from liangwang.catalog.store import IndexCache
from liangwang.db import sessions_for
from liangwang.settings import load_settings


@dataclass(frozen=True)
class Services:
    sessions: sessionmaker[Session]
    catalog_index: IndexCache = field(default_factory=IndexCache)


@cache
def services() -> Services:
    settings = load_settings()
    return Services(sessions=sessions_for(settings.effective_database_url))
