"""Alembic revisions of the event store (a package so wheels include them)."""
