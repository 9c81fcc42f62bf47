"""The one base of every error a user of tfdeeplab sees.

A `TfdeeplabError`'s message is the whole report: one line naming the file, key or
value and saying what to do. It carries the exit code its command ends with, and
every command catches the base once (`tfdeeplab.cli.run_command`), so a new error
class is a one-line error everywhere as soon as it derives from the base. Each
class also derives from the built-in exception it is a kind of (`ValueError`,
`FileNotFoundError`, ...), so code that catches those keeps working.

Pure Python: the recipe loader and the converters' workers import it without
TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A parameter as a library message names it: `force=True`, `out`, `quantize=int8`.
_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)(?:=([^`\s]+))?`")


class TfdeeplabError(Exception):
    """An error whose message is one line for the user; the command exits with
    `exit_code`.

    Args:
        message: str. What is wrong and what to do, naming the file, key or value.

    Example:
        >>> class ShardsGoneError(TfdeeplabError, FileNotFoundError):
        ...     '''No shards where the recipe says.'''
        >>> raise ShardsGoneError("data/voc: no shards; write them with: ...")
    """

    exit_code: int = 2

    def __init__(self, message: str):
        super().__init__(message)

    def __str__(self) -> str:
        text = str(self.args[0]) if self.args else type(self).__name__
        return " ".join(text.split("\n"))  # one line, whatever went into it


def user_error_classes() -> list[type[TfdeeplabError]]:
    """Every subclass of `TfdeeplabError` defined in the modules imported so far.

    Example:
        >>> import tfdeeplab.data.records
        >>> MissingShardsError in user_error_classes()
        True
    """
    found, pending = [], list(TfdeeplabError.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


class Interrupted(TfdeeplabError):
    """Ctrl-C during a job that can say what it completed; exit code 130.

    A job catches `KeyboardInterrupt` where it knows what is complete and what
    running it again does, and raises this with that line.

    Example:
        >>> raise Interrupted("interrupted after 3 of 10 images; run the same "
        ...                   "command to continue")
    """

    exit_code = 130


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message, without TensorFlow's
    `{{function_node ...}}` prefix; the exception's type name when it says nothing.

    Example:
        >>> first_line(ValueError("shape (3,) does not fit\\n  more detail"))
        'shape (3,) does not fit'
    """
    import re

    text = getattr(error, "message", None)
    if not isinstance(text, str):
        text = str(error)
    if isinstance(error, OSError) and error.strerror and not text.strip():
        text = error.strerror
    text = re.sub(r"^\{\{[^}]*\}\}\s*", "", text.strip())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def in_command_terms(message: str, flags: Mapping[str, str]) -> str:
    """A library message with the parameters it names as a command's flags.

    A library error names the parameter to change in backticks (`force=True`,
    `out`, `quantize=int8`); the command line says which flag each one is.
    `name=True` becomes the flag alone, `name=value` the flag and the value;
    names the mapping lacks stay as they are.

    Args:
        message: str. The error's one line.
        flags: mapping from parameter name to flag (`{"force": "--force"}`).

    Example:
        >>> in_command_terms("pass `force=True` or another `out`",
        ...                  {"force": "--force", "out": "--out"})
        'pass --force or another --out'
    """

    def flag(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if name not in flags:
            return match.group(0)
        return flags[name] if value in (None, "True") else f"{flags[name]} {value}"

    return _PARAMETER.sub(flag, message)
