"""Progress of a long fit on stderr (``scalecmp fit`` of many groups)."""

from __future__ import annotations

import sys
import time

from scalecmp.format import clock

__all__ = ["GroupProgress"]


class GroupProgress:
    """``progress(done, total)`` of a fit of many groups, as lines on stderr: none while the
    fit has run less than ``after`` seconds, then at most one every ``every`` seconds, and a
    last one when it ends (``scalecmp: fitted 120 of 10000 groups (1:10 elapsed, about 5:00
    left)``; ``unit`` names what is counted). On stderr, so it shows also with ``--quiet``
    and never mixes with a table."""

    def __init__(self, after: float = 5.0, every: float = 10.0, unit: str = "groups") -> None:
        self._now = time.monotonic
        self.after, self.every, self.unit = after, every, unit
        self.t0 = self._now()
        self.last: float | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self._now()
        elapsed = now - self.t0
        if total < 2 or elapsed < self.after:
            return
        if done < total and self.last is not None and now - self.last < self.every:
            return
        if done == total and self.last is None:
            return  # finished before any line was due
        self.last = now
        left = elapsed * (total - done) / done if done else float("nan")
        tail = "" if done == total else f", about {clock(left)} left"
        print(f"scalecmp: fitted {done} of {total} {self.unit} ({clock(elapsed)} elapsed"
              f"{tail})", file=sys.stderr, flush=True)
