"""What every command line shares: its parser, paths, `--set`, and how it ends.

A command parses its arguments, makes one call into the library inside
`run_command` and prints the result. `run_command` is the one place a failure
becomes an exit code: a `TfdeeplabError` (every error meant for a user derives from
it) prints its one line and exits with the code it carries; Ctrl-C exits 130 with
one line; a file the system refuses (a full disk, no permission) is one line
naming it. Nothing else is caught: anything else is a bug, and its traceback is
what a bug report needs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tfdeeplab.errors import TfdeeplabError, in_command_terms

# Options that take a list of KEY=VALUE words (`--set a=1 b=2`).
OVERRIDE_OPTIONS = ("--set", "--cityscapes-set")
INTERRUPTED_EXIT = 130
# A shell's code for a process whose reader went away (`... | head`): 128 + SIGPIPE.
BROKEN_PIPE_EXIT = 141
# The help of every command's recipe argument (`config.find_recipe` reads it).
RECIPE_HELP = (
    "a shipped recipe's name (voc_scale16; python -m tfdeeplab.describe --list "
    "shows them) or a recipe YAML file"
)
# TensorFlow's C++ log level: 2 hides its INFO and WARNING notices, 0 shows all.
TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
VERBOSE_FLAG = "--verbose"


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (`error: ...`, exit code 2).

    The words after `--set` (and the other `OVERRIDE_OPTIONS`) are overrides only
    while they hold a `=`: `--set eval.flip=true photo.jpg --out D` leaves
    `photo.jpg` to the positional arguments instead of reading it as an override.

    Every parser has `--verbose`, which shows TensorFlow's start-up notices (CPU
    instructions, oneDNN, no CUDA driver) that `start_tensorflow` otherwise hides.

    Example:
        >>> parser = OneLineArgumentParser(prog="python -m tfdeeplab.bench")
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument(
            VERBOSE_FLAG,
            action="store_true",
            default=argparse.SUPPRESS,
            help="show TensorFlow's start-up notices too",
        )

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        words = sys.argv[1:] if args is None else list(args)
        if VERBOSE_FLAG in words[: words.index("--") if "--" in words else None]:
            os.environ[TF_LOG_LEVEL] = "0"
        return super().parse_known_args(split_overrides(words), namespace)


def split_overrides(words: Sequence[str]) -> list[str]:
    """`--set a=1 b=2 x` as `--set=a=1 --set=b=2 x`: each override its own option.

    A word without `=` ends the overrides; right after `--set` it is refused,
    naming it (argparse's one-line error).

    Example:
        >>> split_overrides(["--set", "a=1", "b=2", "photo.jpg"])
        ['--set=a=1', '--set=b=2', 'photo.jpg']
    """
    result, option, count = [], None, 0
    for word in words:
        if option is not None:
            if "=" in word and not word.startswith("-"):
                result.append(f"{option}={word}")
                count += 1
                continue
            if count == 0 and not word.startswith("-"):
                result.append(f"{option}={word}")  # no `=`: refused, naming it
                option = None
                continue
            option = None
        if word in OVERRIDE_OPTIONS:
            option, count = word, 0
            continue
        result.append(word)
    return result


def _override(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return text


def add_override_argument(
    parser: argparse.ArgumentParser,
    example: str = "train.max_steps=100",
    flag: str = "--set",
    dest: str = "overrides",
) -> None:
    """Add `--set KEY=VALUE ...` (stored as `args.overrides`) to `parser`.

    Use it on a `OneLineArgumentParser`, which ends the list at a word without
    `=`.

    Args:
        parser: argparse.ArgumentParser. The command's parser.
        example: str. An override shown in the help text.
        flag: str. The option, one of `OVERRIDE_OPTIONS`. Defaults to `--set`.
        dest: str. The attribute the list is stored in. Defaults to `overrides`.

    Example:
        >>> parser = OneLineArgumentParser()
        >>> add_override_argument(parser)
        >>> parser.parse_args(["--set", "train.max_steps=5"]).overrides
        ['train.max_steps=5']
    """
    parser.add_argument(
        flag,
        dest=dest,
        action="append",
        type=_override,
        default=[],
        metavar="KEY=VALUE",
        help=f"override recipe keys, e.g. {example} (several may follow)",
    )


def positive_int(text: str) -> int:
    """An int of at least 1, for argparse's `type=`.

    Example:
        >>> parser.add_argument("--batch", type=positive_int, default=2)
    """
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An int of at least 0, for argparse's `type=`."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        message = f"expected a whole number, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected at least {minimum}, got {value}")
    return value


def path_argument(text: str) -> Path:
    """A path for argparse's `type=`, with `~` expanded as a shell would not after
    `=` (`--out=~/runs`).

    Example:
        >>> parser.add_argument("--out", type=path_argument)
    """
    return Path(os.path.expanduser(text))


def add_weights_arguments(
    parser: argparse.ArgumentParser, *, required: bool = True
) -> None:
    """Add the choice `--checkpoint PATH` or `--weights FILE` to `parser`.

    Args:
        parser: argparse.ArgumentParser.
        required: bool. One of the two must be given. Defaults to True.

    Example:
        >>> add_weights_arguments(parser)  # then args.checkpoint, args.weights
    """
    weights = parser.add_mutually_exclusive_group(required=required)
    weights.add_argument(
        "--checkpoint",
        type=path_argument,
        help="checkpoint prefix, or a run directory (its newest)",
    )
    weights.add_argument(
        "--weights", type=path_argument, help="a .weights.h5 or .keras file"
    )


# TensorFlow's complaint, at its first device query, that it found no CUDA driver.
_NO_CUDA_DRIVER = re.compile(r"failed call to cuInit")


def _has_nvidia_driver() -> bool:
    return Path("/proc/driver/nvidia").exists() or any(Path("/dev").glob("nvidia*"))


def start_tensorflow():
    """Import TensorFlow and find the devices, without start-up noise.

    TensorFlow's INFO and WARNING lines are hidden (`TF_CPP_MIN_LOG_LEVEL=2`
    unless set; `--verbose` sets 0). On a machine without an NVIDIA driver its
    "failed call to cuInit" error line, which says only that there is no GPU, is
    dropped too unless the level is 0; every other line it prints while starting
    is passed on.

    Returns:
        The `tensorflow` module.

    Example:
        >>> tf = start_tensorflow()
    """
    os.environ.setdefault(TF_LOG_LEVEL, "2")
    verbose = os.environ[TF_LOG_LEVEL] == "0"
    if "tensorflow" in sys.modules or verbose or _has_nvidia_driver():
        import tensorflow as tf

        tf.config.list_physical_devices()
        return tf
    with _filtered_stderr(_NO_CUDA_DRIVER):
        import tensorflow as tf

        tf.config.list_physical_devices()  # the first device query calls cuInit
    return tf


@contextlib.contextmanager
def _filtered_stderr(drop: re.Pattern):
    """Capture file descriptor 2 (C++ logs too); pass on the lines not matching."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not drop.search(line):
                    print(line, file=sys.stderr)


def _quiet_exit() -> None:
    """Nothing more from TensorFlow's Python logger once the one line is out: a
    failed checkpoint restore, say, leaves objects that log every unrestored value
    as the process exits (60 lines for a model of another shape)."""
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].get_logger().setLevel("ERROR")


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's flush at exit does not
    fail a second time on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


# The library's parameters (named in its errors) that every command spells alike.
COMMON_FLAGS = {
    "force": "--force",
    "out": "--out",
    "checkpoint": "--checkpoint",
    "weights": "--weights",
    "init_weights": "--init",
    "workdir": "--workdir",
}


def run_command(
    body: Callable[[], int | None],
    interrupted: str = "interrupted; run the same command to continue",
    flags: Mapping[str, str] | None = None,
) -> int:
    """Run a command's body; turn what a user must see into one line and a code.

    Args:
        body: function of no arguments returning the exit code (None for 0).
        interrupted: str. The line printed on Ctrl-C (exit code 130) when the
            body does not say itself what was complete.
        flags: the command's flag for each library parameter an error may name,
            besides `COMMON_FLAGS` (`errors.in_command_terms`).

    Returns:
        int, the exit code: the body's; a `TfdeeplabError`'s `exit_code`; 130
        after Ctrl-C; 141, quietly, when the output's reader went away
        (`| head`); 2 for a file the system would not read or write.

    Example:
        >>> sys.exit(run_command(lambda: train_and_print(args)))
    """
    try:
        code = body()
    except TfdeeplabError as error:
        message = in_command_terms(str(error), {**COMMON_FLAGS, **(flags or {})})
        print(f"error: {message}", file=sys.stderr)
        _quiet_exit()
        return error.exit_code
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return INTERRUPTED_EXIT
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_EXIT
    except OSError as error:
        if error.filename is None and error.strerror is None:
            raise
        where = error.filename if error.filename is not None else "error"
        print(f"error: {where}: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0 if code is None else code
