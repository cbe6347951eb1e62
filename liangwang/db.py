"""Database engine, sessions and schema migration (Alembic owns the schema)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """A stored time as UTC (SQLite gives times back without their zone; ours are UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def with_postgres_driver(url: str, driver: str) -> str:
    """``url`` naming ``driver`` if it is a PostgreSQL URL, any other unchanged: one
    configured URL serves our engine (psycopg 3) and Rasa's (SQLAlchemy 1.4: psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+")[0] in ("postgresql", "postgres"):
        return f"postgresql+{driver}://{rest}"
    return url


def make_engine(url: str) -> Engine:
    """Our engine on ``url`` (also on Rasa's tracker store, to read it)."""
    url = with_postgres_driver(url, "psycopg")
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the web app read while the action server writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def sessions_for(url: str) -> sessionmaker[Session]:
    """Sessions on the database at ``url``: what every process builds once at start-up."""
    return make_session_factory(make_engine(url))


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session per unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Create or upgrade the schema to the newest revision."""
    if url.startswith("sqlite"):
        # WAL is kept in the file: set it now, while nothing else has the database open.
        # Turning a database to WAL needs it to itself, so left to the first connections
        # of the processes started next, one reading would keep another from connecting.
        engine = make_engine(url)  # it makes the folder, and sets WAL as it connects
        with engine.connect():
            pass
        engine.dispose()
    command.upgrade(alembic_config(url), "head")
