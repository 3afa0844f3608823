"""Alembic environment: the engine is handed over by kapviz.db.migrate, never read from ini."""

from alembic import context

import kapviz.auth.models  # noqa: F401  (users and audit tables on Base.metadata)
from kapviz.db.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
