"""The command line: thin. Each command parses its flags into a typed config and calls
one function. Commands live by group, registered on ``app`` when this package loads:

- grassroots.cli.pipeline: extract, download, hash, embed, score, stats, demo;
- grassroots.cli.release: select, takedown, index, card;
- grassroots.cli.model: model init, train, train-head, eval;
- grassroots.cli.serve: serve.

This module holds what they share: the app, one-line errors, exit codes, the runner flags.
The console script starts in grassroots.__main__ (which guards the imports) and runs ``main``."""

from __future__ import annotations

import sys

from grassroots.cli.common import (EXIT_BAD_INPUT, EXIT_FAILED_SHARDS, EXIT_INTERRUPTED, EXIT_NOTHING_KEPT, EXIT_OK,
                                   app, console, say_interrupted)
from grassroots.cli import common as _common

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED_SHARDS", "EXIT_INTERRUPTED", "EXIT_NOTHING_KEPT", "EXIT_OK", "app",
           "console", "main"]


def main() -> None:
    """The console script (through grassroots.__main__, which guards the imports).
    An interrupt anywhere ends with exit 130 and the line: inside a command the
    wrapper says it; before one starts (building or parsing the command line) typer
    turns the KeyboardInterrupt into a silent exit 130, which is caught here."""
    import signal

    from grassroots.img2dataset_compat import CompatError, translate

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM ends a run like Ctrl-C
    try:
        try:
            args, notes = translate(sys.argv[1:])
        except CompatError as e:
            console.print(f"[bold red]error:[/] {e}", soft_wrap=True, highlight=False)
            sys.exit(EXIT_BAD_INPUT)
        for note in notes:
            console.print(f"[dim]{note}[/]", highlight=False)
        app(args=args, prog_name="grassroots")
    except KeyboardInterrupt:
        say_interrupted()
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as e:
        if e.code == EXIT_INTERRUPTED and not _common.interrupt_said:
            say_interrupted()
        raise


# The command groups register their commands on ``app`` (order: --help's order).
from grassroots.cli import pipeline, release, serve, model  # noqa: E402,F401
