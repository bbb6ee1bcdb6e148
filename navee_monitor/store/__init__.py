"""Storage: SQLAlchemy models, sessions, migrations, and area query modules.

ORM rows stay inside this package; callers get dataclasses from ``records``.
"""
