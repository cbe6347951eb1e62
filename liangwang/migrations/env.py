"""Alembic environment: runs migrations against the URL set by liangwang.db.alembic_config."""

from alembic import context
from sqlalchemy import engine_from_config, pool

# Importing the model modules registers their tables on Base.metadata.
from liangwang.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
