"""Python's cycle collector, tuned for the long-running processes (`serve`, `worker`).

With CPython's defaults the campaign bench (bench/campaign.py) found the worker spending
about a third of its CPU collecting garbage, and `serve` a quarter: every full collection
walks every tracked object alive, some 200,000 after startup (modules, SQLAlchemy's and
pydantic's compiled structures, the app's routes) that will live as long as the process,
and took 100-200 ms; and with a threshold of 700 allocations, the young collections ran
so often that the objects of the requests and batches in flight were promoted to the old
generations, which brought full collections every few seconds.

So, once a process has started: collect once, move what is left into the permanent
generation (``gc.freeze``: never walked again; it was never going to be garbage), and let
the young generation grow to ``YOUNG_THRESHOLD`` objects before a collection. Reference
counting still frees everything that is not in a cycle the moment it is dropped; the
threshold bounds how many cyclic leftovers wait for the next collection.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["YOUNG_THRESHOLD", "settle_after_startup"]

YOUNG_THRESHOLD: Final = 10_000


def settle_after_startup(*, young: int = YOUNG_THRESHOLD, older: int | None = None) -> None:
    """Freeze what startup made and collect young garbage less often (see above).

    Call once the process has imported and built what it keeps for its lifetime; objects
    made later are collected as usual. For a process's entry point, not for libraries or
    tests (it changes the whole interpreter). ``young`` allocations between young
    collections; ``older``, if given, young collections between older ones (both older
    generations; CPython keeps 10).
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    if older is not None:
        middle = old = older
    gc.set_threshold(young, middle, old)
