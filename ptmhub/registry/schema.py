"""Schema version this code expects (checked without importing Alembic; a test keeps it equal
to the head of migrations/versions)."""

SCHEMA_HEAD = "0002"
