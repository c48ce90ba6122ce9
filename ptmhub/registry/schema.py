"""Schema version this code expects (checked without importing Alembic; a test keeps these equal
to the revisions in migrations/versions)."""

SCHEMA_HEAD = "0004"
#: Every revision this code can upgrade from, oldest first: a registry at a revision not listed
#: here was written by a newer ptmhub (or something else) and is never "behind".
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004")


def describe(rev: str | None) -> str:
    """Where a registry at ``rev`` stands: ``up to date``, ``empty``, ``behind`` or ``newer``."""
    if rev is None:
        return "empty"
    if rev == SCHEMA_HEAD:
        return "up to date"
    if rev in KNOWN_REVISIONS or (rev.isdigit() and len(rev) == len(SCHEMA_HEAD) and rev < SCHEMA_HEAD):
        return "behind"
    return "newer"  # a later number, or a revision id no ptmhub of this line wrote
