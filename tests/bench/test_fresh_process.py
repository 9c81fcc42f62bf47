"""`call_in_fresh_process`: a call in a new interpreter, its JSON result back."""

import os
import subprocess

import pytest

from tfdeeplab.bench.fresh_process import call_in_fresh_process


def test_the_call_runs_in_another_process_and_its_result_comes_back():
    assert call_in_fresh_process("math", "hypot", 3, 4) == 5.0
    assert call_in_fresh_process("os", "getpid") != os.getpid()
    # Literal arguments of every kind travel by their repr.
    assert call_in_fresh_process("os.path", "join", "a b", "c'd") == "a b/c'd"


def test_a_failing_call_raises_with_the_childs_error():
    with pytest.raises(subprocess.CalledProcessError) as raised:
        call_in_fresh_process("math", "sqrt", -1)
    assert "math domain error" in raised.value.stderr
