"""``python -m grassroots.cli``: the same as the console script."""

from grassroots.cli import main

main()
