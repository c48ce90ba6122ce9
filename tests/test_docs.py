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


def test_readme_keeps_two_setup_commands_and_names_every_extra():
    import tomllib

    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```")[1]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make run", "make test"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    table = readme.split("### Which extra each command needs", 1)[1].split("\n\n`all`", 1)[0]
    named = set(re.findall(r"\| `(\w+)`(?: and `(\w+)`)? \|$", table, flags=re.M))
    named = {e for pair in named for e in pair if e}
    assert named == set(extras) - {"all", "dev"}, named
    in_all = set(re.fullmatch(r"ptmhub\[(.*)\]", extras["all"][0]).group(1).split(","))
    assert named <= in_all, named - in_all
    assert any("sentence-transformers" in req for req in extras["st"])
    assert "CPU wheel index" in readme and "TORCH_INDEX_URL" in (ROOT / "Makefile").read_text()


def test_cli_extra_table_names_real_extras():
    import tomllib

    from ptmhub.cli.extras import MODULE_EXTRAS

    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    assert {extra for extra, _ in MODULE_EXTRAS.values()} <= extras


def test_help_lists_the_public_api():
    import ptmhub

    doc = ptmhub.__doc__ or ""
    missing = [name for name in ptmhub.__all__ if name != "__version__" and f"\n    {name}" not in doc]
    assert missing == [], f"list these in ptmhub/__init__.py's docstring: {missing}"
