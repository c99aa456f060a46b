"""What the command groups share: the app, one-line errors, exit codes, the runner flags."""

from __future__ import annotations

import enum
import functools
import sys
from typing import Callable, Optional

import typer
from rich.console import Console

from grassroots import __version__
from grassroots.errors import EXIT_INTERRUPTED, INTERRUPTED, GrassrootsError
from grassroots.runner import RunnerKind

Device = enum.Enum("Device", {"AUTO": "auto", "CPU": "cpu", "CUDA": "cuda"}, type=str)
Precision = enum.Enum("Precision", {"AUTO": "auto", "FP32": "fp32", "BF16": "bf16", "FP16": "fp16"}, type=str)
SafetyPrecision = enum.Enum("SafetyPrecision", {"AUTO": "auto", "FP32": "fp32"}, type=str)

app = typer.Typer(
    help="Grassroots: open image-text datasets from the public web, honouring creators' opt-outs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # plain help: option names are never cut at 80 columns
)
console = Console()


# Exit codes (README "Quick start"): scripts can tell what happened.
EXIT_OK = 0
EXIT_FAILED_SHARDS = 1  # some shards failed: rerun the same command to retry them
EXIT_BAD_INPUT = 2  # bad input or options; nothing was run (or the run stopped at once)
EXIT_NOTHING_KEPT = 3  # the run finished, but every row failed, was refused or filtered
# EXIT_INTERRUPTED = 130 (grassroots.errors): Ctrl-C / SIGTERM, rerun the same command to resume


def one_line_errors(fn: Callable) -> Callable:
    """Expected errors (bad input, unreadable or unwritable paths) become one
    line on the console and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GrassrootsError as e:
            console.print(f"[bold red]error:[/] {e}", soft_wrap=True, markup=True, highlight=False)
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            console.print(f"[bold red]error:[/] {where}{e.strerror or e}", soft_wrap=True, highlight=False)
        except KeyboardInterrupt:
            say_interrupted()
            raise typer.Exit(EXIT_INTERRUPTED) from None
        raise typer.Exit(EXIT_BAD_INPUT)

    return wrapper


interrupt_said = False


def say_interrupted() -> None:
    """The line every exit 130 prints, whatever state the shared console is in: an
    interrupt can land inside rich's rendering (between its buffer's enter and exit),
    after which that console only buffers; a fresh console has its own buffer."""
    global interrupt_said
    out = sys.stdout
    out = getattr(out, "rich_proxied_file", out)  # a progress display's redirect, left in place
    Console(file=out).print(f"[yellow]{INTERRUPTED}[/]", highlight=False)
    interrupt_said = True


def command(*args, **kwargs) -> Callable:
    """``app.command`` with one-line errors."""
    return lambda fn: app.command(*args, **kwargs)(one_line_errors(fn))


def _mount_subcommands() -> None:
    from grassroots.miniweb.cli import app as miniweb_app
    from grassroots.rights.cli import app as rights_app

    app.add_typer(miniweb_app, name="miniweb", help="The local test web: serve it, write it as a WARC crawl.")
    app.add_typer(rights_app, name="rights", help="Explain what every opt-out protocol decides for a URL.")


_mount_subcommands()


def _version(value: bool) -> None:
    if value:
        console.print(f"grassroots {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    pass


RUNNER_HELP = "local: a process pool on this machine; ray: the same shard tasks on Ray."


def runner_of(runner: RunnerKind, processes: int, ray_address: Optional[str]):
    from grassroots.runner import make_runner

    return make_runner(RunnerKind(runner).value, processes, ray_address)


def default_processes() -> int:
    import os

    return max(1, os.cpu_count() or 1)


def finish(dataset: str, *totals) -> None:
    """Tell the user what needs action, then exit with the code that says what happened."""
    from grassroots.report import print_advice

    for t in totals:
        print_advice(console, str(dataset), t)
    if any(t.failed_shards for t in totals):
        n = sum(t.failed_shards for t in totals)
        console.print(f"[red]{n} shard(s) failed; rerun the same command to retry them.[/]")
        raise typer.Exit(EXIT_FAILED_SHARDS)
    last = totals[-1]
    if last.candidates and not last.kept:
        console.print(f"[red]{last.stage}: nothing kept: every one of {last.candidates} rows failed, "
                      "was refused or was filtered (exit code 3)[/]")
        raise typer.Exit(EXIT_NOTHING_KEPT)
