"""Alembic environment: migrations run in-process on the connection Handrail hands in."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table="handrail_alembic_version", render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
