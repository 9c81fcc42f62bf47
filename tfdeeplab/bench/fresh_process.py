"""Run one benchmark function in a fresh Python process and read back its result.

A peak resident set is only the function's own in a process that has run nothing
else, so the memory rows measure there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def call_in_fresh_process(module: str, function: str, *arguments):
    """`module.function(*arguments)` in a new interpreter; its JSON result.

    Args:
        module: str. The module to import, e.g. `tfdeeplab.bench.deform`.
        function: str. A function of it whose arguments are Python literals
            (their `repr` is the call) and whose result is JSON.
        *arguments: the call's arguments.

    Returns:
        The function's result, through JSON.

    Raises:
        subprocess.CalledProcessError: the process failed (its stderr attached).

    Example:
        >>> call_in_fresh_process("math", "hypot", 3, 4)
        5.0
    """
    call = f"{function}({', '.join(repr(argument) for argument in arguments)})"
    code = f"import json; from {module} import {function}; print(json.dumps({call}))"
    finished = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        check=True,
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])
