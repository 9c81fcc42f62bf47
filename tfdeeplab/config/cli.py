"""The command-line helpers, by their earlier name: they live in `tfdeeplab.cli`."""

from tfdeeplab.cli import (
    OneLineArgumentParser,
    add_override_argument,
    add_weights_arguments,
    path_argument,
    run_command,
    start_tensorflow,
)

__all__ = [
    "OneLineArgumentParser",
    "add_override_argument",
    "add_weights_arguments",
    "path_argument",
    "run_command",
    "start_tensorflow",
]
