"""Alembic environment and revisions of the event store, shipped inside the package."""
