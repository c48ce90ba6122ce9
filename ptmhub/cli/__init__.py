"""The ``ptmhub`` command: a thin click layer over :mod:`ptmhub.api`.

Start-up imports only click and ptmhub's own light modules: command bodies import the API (and
with it SQLAlchemy or a framework) when they run, so ``ptmhub --help`` stays fast.
"""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import PtmhubError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        from .. import settings

        settings.override(database_url=settings.database_url_from(value))
    return value


def _set_offline(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        from .. import offline

        offline.apply(True)  # the one entrance: settings, the native variables and the libraries' flags at once
    return value


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="ptmhub", message="%(prog)s %(version)s")
@click.option("--db", metavar="URL|PATH", expose_value=False, is_eager=True, callback=_set_db,
              help="Registry database: a SQLite file path or a sqlite:// / postgresql:// URL "
                   "(default: PTMHUB_DATABASE_URL or the user data dir).")
@click.option("--offline", is_flag=True, expose_value=False, is_eager=True, callback=_set_offline,
              help="Never touch the network (same as PTMHUB_OFFLINE=1).")
def cli() -> None:
    """ptmhub: find, compare, cache and fine-tune pre-trained models from Hugging Face,
    TF Hub / Kaggle Models and PyTorch Hub, through one local registry."""


# One module per command group; each exposes COMMANDS. A new group is one name here.
COMMAND_MODULES = ("models", "sync", "hubcmds", "db", "compare", "finetune", "cache", "recommend", "export")


def _register() -> None:
    import importlib

    for name in COMMAND_MODULES:
        for command in importlib.import_module(f"{__name__}.{name}").COMMANDS:
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and turns every PtmhubError into one line on stderr.

    As the process's own entry point (``argv`` None: the ``ptmhub`` script, ``python -m
    ptmhub``), the command ends without the interpreter's final garbage collection (see
    :func:`_end_of_process`); called with ``argv`` (tests, embedding programs) it leaves the
    process as it found it.
    """
    try:
        _run(argv)
    finally:
        if argv is None:
            _end_of_process()


def _end_of_process() -> None:
    """What the command holds is released in order, then the interpreter's last full garbage
    collection is skipped (``gc.freeze``): at exit it only walks objects the OS frees anyway, and
    on this machine it cost ~35 ms of every command (15% of a search; docs/benchmarks.md).
    Registry connections are closed first (SQLite checkpoints its write-ahead log) and output is
    flushed; atexit handlers still run."""
    engine = sys.modules.get("ptmhub.registry.engine")
    if engine is not None:
        engine.dispose_all()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    import gc

    gc.freeze()


def _run(argv: list[str] | None) -> None:
    try:
        try:
            cli.main(args=argv, prog_name="ptmhub", standalone_mode=False)
        except ImportError as exc:
            if isinstance(exc, PtmhubError) or (exc.name or "").startswith("ptmhub"):
                raise  # already says which extra; an import of ptmhub's own is a bug to see
            from .extras import command_path, missing_dependency

            raise missing_dependency(exc, command_path(sys.argv[1:] if argv is None else argv, cli)) from None
    except PtmhubError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C into Abort: a command that said what it kept (progress.Interrupted) is heard
        cause = exc.__cause__ or exc.__context__
        said = str(cause) if isinstance(cause, KeyboardInterrupt) else ""
        click.echo(said or ("interrupted" if isinstance(cause, KeyboardInterrupt) else "aborted"), err=True)
        sys.exit(130)
    except click.UsageError as exc:
        if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
            exc.show()  # a group given no command: its help is the answer
            sys.exit(exc.exit_code)
        # one line, like every other error: what was wrong, and where the help is
        where = exc.ctx.command_path if exc.ctx is not None else "ptmhub"
        message = " ".join(exc.format_message().split())
        click.echo(f"error: {message} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        # a command that knows what it kept says so (progress.Interrupted); others just stop
        click.echo(str(exc) if str(exc) else "interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(141)
    except OSError as exc:
        click.echo(f"error: {exc.strerror or exc} ({getattr(exc, 'filename', '') or 'I/O'})", err=True)
        sys.exit(1)
    sys.exit(0)
