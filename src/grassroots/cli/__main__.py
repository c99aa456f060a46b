"""``python -m grassroots.cli``: the same as the console script."""

from grassroots.__main__ import main

main()
