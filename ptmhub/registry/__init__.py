"""The registry: ORM tables, engines, migrations and the store (the only database code)."""

from .store import SearchQuery, Store, open_store

__all__ = ["Store", "SearchQuery", "open_store"]
