"""Did-you-mean hints whose cost is bounded, whatever the file holds.

A close-match search is linear in the number of candidates; run once per mistake it
turns a file of n broken references into n * n work (8,000 layers with a wrong
``inputs`` took 25 s). A `Suggester` answers each distinct word once (a mistake repeated
on every layer costs one search) and compares at most `budget` candidates in all: past
that, the hint falls back to its generic text. Real files have a handful of typos, so
every one of them still gets its suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

# Candidates compared in all, per file: a search compares its whole pool, and difflib's
# ratio costs up to ~100 us per candidate, so this bounds the hints to about a second.
DEFAULT_BUDGET = 10_000


class Suggester:
    def __init__(self, budget: int | None = None) -> None:
        self.budget = DEFAULT_BUDGET if budget is None else budget
        self._known: dict[str, str | None] = {}

    def closest(
        self, word: str, choices: Sequence[str] | Callable[[], Sequence[str]], size: int
    ) -> str | None:
        """The choice closest to `word` (difflib's ratio >= 0.6), else a case-insensitive
        equal, else None. `choices` (`size` of them) may be a function, called only when
        a search runs: past the budget, no search runs."""
        if word in self._known:
            return self._known[word]
        if size > self.budget:
            self._known[word] = None
            return None
        self.budget -= size
        pool = choices() if callable(choices) else choices
        found = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
        if found:
            answer: str | None = found[0]
        else:
            lowered = word.lower()
            answer = next((c for c in pool if c.lower() == lowered), None)
        self._known[word] = answer
        return answer
