"""The store: SQLAlchemy 2 models, sessions, Alembic migrations."""
