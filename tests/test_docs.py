"""Every CLI command (and sub-command) has a section in docs/cli.md; the README keeps its two
set-up commands and CI calls the test one."""

from __future__ import annotations

import re
from pathlib import Path

import click

from ptmhub.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def _paths(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _paths(command, (*prefix, name))


def test_every_command_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text()
    headings = set(re.findall(r"^#+ (ptmhub [\w\- ]+?)\s*$", text, flags=re.M))
    missing = [" ".join(("ptmhub", *p)) for p in _paths(cli) if " ".join(("ptmhub", *p)) not in headings]
    assert missing == [], f"document these in docs/cli.md: {missing}"


def test_readme_commands_and_ci():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_docs_pages_exist():
    for page in ("architecture.md", "cli.md", "ids.md", "licenses.md"):
        assert (ROOT / "docs" / page).stat().st_size > 500, page
