"""Grassroots: open image-text datasets and CLIP models from the public web."""

import os

__version__ = "0.1.0"

# Arrow's default allocator in the pip wheels is mimalloc, which commits its arenas
# eagerly; where the kernel backs madvised memory with huge pages (THP "madvise",
# the default of many distributions), those commits stall in page compaction: on
# a 600k-candidate WAT, extract spent 1.0-1.2 s in the kernel with it, 0.45-0.5 s
# with the system allocator (bench/extract_vs_cc2dataset.py; user time the same).
# Set before pyarrow loads (every grassroots module imports this package first),
# inherited by worker processes; an ARROW_DEFAULT_MEMORY_POOL already set wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
