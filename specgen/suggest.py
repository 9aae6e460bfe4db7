"""Did-you-mean hints whose cost is bounded, whatever the file holds.

A close-match search is linear in the number of candidates; run once per mistake it
turns a file of n broken references into n * n work (8,000 layers with a wrong
``inputs`` took 25 s). A `Suggester` answers each distinct word once (a mistake repeated
on every layer costs one search) and searches at most `budget` times: past that, the
hint falls back to its generic text. Real files have a handful of typos, so every one of
them still gets its suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

DEFAULT_BUDGET = 32


class Suggester:
    def __init__(self, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._known: dict[str, str | None] = {}

    def closest(
        self, word: str, choices: Sequence[str] | Callable[[], Sequence[str]]
    ) -> str | None:
        """The choice closest to `word` (difflib's ratio >= 0.6), else a case-insensitive
        equal, else None. `choices` may be a function, called only when a search runs."""
        if word in self._known:
            return self._known[word]
        if self.budget <= 0:
            return None
        self.budget -= 1
        pool = choices() if callable(choices) else choices
        found = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
        if found:
            answer: str | None = found[0]
        else:
            lowered = word.lower()
            answer = next((c for c in pool if c.lower() == lowered), None)
        self._known[word] = answer
        return answer
