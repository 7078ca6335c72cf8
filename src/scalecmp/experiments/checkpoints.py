"""Where a run's checkpoints live on disk: ``<run_dir>/ckpt-<samples seen, 12 digits>.pt``.

The names only, so that planning a grid (:mod:`scalecmp.experiments.plan`) and ``grid
status`` can see which checkpoints exist without importing torch; writing and loading them
is :mod:`scalecmp.experiments.trainer`. Standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CKPT_RE", "checkpoint_path", "list_checkpoints"]

#: a finished checkpoint's file name (temporary files of an interrupted write start with a dot)
CKPT_RE = re.compile(r"^ckpt-(\d+)\.pt$")


def checkpoint_path(run_dir: str | Path, samples_seen: int) -> Path:
    """``run_dir/ckpt-<samples, 12 digits>.pt``."""
    return Path(run_dir) / f"ckpt-{int(samples_seen):012d}.pt"


def list_checkpoints(run_dir: str | Path) -> dict[int, Path]:
    """Finished checkpoints of a run: samples seen -> path (temporary files are ignored)."""
    out: dict[int, Path] = {}
    d = Path(run_dir)
    if d.is_dir():
        for p in d.iterdir():
            m = CKPT_RE.match(p.name)
            if m:
                out[int(m.group(1))] = p
    return dict(sorted(out.items()))
