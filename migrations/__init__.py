"""Alembic migrations of navee-monitor (installed as the package ``navee_migrations``)."""
