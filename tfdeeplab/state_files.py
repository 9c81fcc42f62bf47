"""The JSON state files a job writes to continue where it stopped: read whole or
not trusted, written whole or not at all.

`read_state(path)` is the one reader: a file that is absent is an empty state, one
that is damaged (cut short, not JSON, not an object) is None, so the caller redoes
what it recorded instead of trusting it. `StepRecord` is the record of which
checkpoint each step after training ran for (the demo's evaluate / export /
predict, a comparison's evaluation), so a run again reuses a step done for the
same checkpoint whose outputs are still there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from tfdeeplab.atomic_files import write_json


def read_state(path: str | Path) -> dict | None:
    """The JSON object in `path`: {} when absent, None when damaged.

    Example:
        >>> read_state(Path("runs/demo/demo_steps.json"))
        {'evaluate': 'runs/demo/checkpoints/ckpt-10', ...}
    """
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


class StepRecord:
    """A state file of the checkpoint each step ran for, and of other values.

    A damaged file is one note, and every step it recorded runs again.

    Args:
        path: Path. The JSON file (written whole on every change).
        log: function taking one line of text.

    Example:
        >>> steps = StepRecord(Path("runs/demo/demo_steps.json"))
        >>> if not steps.reused("export", checkpoint, [Path("runs/demo/saved_model")]):
        ...     export_it()
        ...     steps.mark("export", checkpoint)
    """

    def __init__(self, path: str | Path, log: Callable[[str], None] = print):
        self.path = Path(path)
        self.log = log
        state = read_state(self.path)
        if state is None:
            log(f"note: {self.path} is damaged; the steps it recorded run again")
            state = {}
        self.values = state

    def reused(self, step: str, checkpoint: str, outputs: Sequence[Path]) -> bool:
        """True (and says so) when `step` ran for `checkpoint` and its outputs are
        all there."""
        if self.values.get(step) == checkpoint and all(p.exists() for p in outputs):
            self.log(f"{step}: reused (done for {Path(checkpoint).name})")
            return True
        return False

    def mark(self, step: str, checkpoint: str) -> None:
        """Record that `step` ran for `checkpoint`."""
        self.set(step, checkpoint)

    def set(self, key: str, value) -> None:
        """Record any JSON value under `key`."""
        self.values[key] = value
        write_json(self.path, self.values)
