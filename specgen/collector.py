"""Pausing Python's cyclic garbage collector while a large structure is built.

Reading a spec, expanding its blocks and the shape pass allocate many long-lived objects
and free almost none: every allocation threshold the collector reaches makes it rescan
what was built so far, about a fifth of the time at 10,000-50,000 layers. Nothing built
there forms garbage cycles that must be freed before the pass ends, so the collector is
paused for it and resumes afterwards (when it was running before: a caller that turned
it off keeps it off).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
