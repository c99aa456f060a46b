"""``grassroots`` (the console script) and ``python -m grassroots``.

Importing the command line (typer, rich, every option's enum) takes a few tenths
of a second; an interrupt in that window is answered like one in a run: exit
130 and the line, never a traceback. Nothing heavy is imported before the guard.
"""

from __future__ import annotations

import signal
import sys

from grassroots.errors import EXIT_INTERRUPTED, INTERRUPTED


def main() -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM ends a run like Ctrl-C
    try:
        from grassroots.cli import main as cli_main
    except KeyboardInterrupt:
        print(INTERRUPTED, flush=True)
        sys.exit(EXIT_INTERRUPTED)
    cli_main()


if __name__ == "__main__":
    main()
