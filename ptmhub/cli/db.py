"""db upgrade, db current."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """Manage the registry database's schema."""


@db.command()
def upgrade() -> None:
    """Create the registry or upgrade it to this ptmhub's schema (Alembic)."""
    from .. import settings
    from ..registry import migrate

    url = settings.get().database_url
    before, after = migrate.upgrade(url)
    shown = url.split("@")[-1]
    if before == after:
        click.echo(f"{shown} is already at schema {after}")
    else:
        click.echo(f"{shown}: schema {before or '(empty)'} -> {after}")


@db.command()
def current() -> None:
    """Print the registry's schema revision and the one this ptmhub needs."""
    from .. import settings
    from ..registry import migrate
    from ..registry.schema import SCHEMA_HEAD, describe

    rev = migrate.current(settings.get().database_url)
    state = {"behind": "needs 'ptmhub db upgrade'",
             "newer": "newer than this ptmhub: upgrade ptmhub to use it"}.get(describe(rev), describe(rev))
    click.echo(f"{rev[:64] if rev else '(none)'} (head {SCHEMA_HEAD}, {state})")


COMMANDS = [db]
