"""Argument types the benchmarks share: counts that must be positive."""

from __future__ import annotations

import argparse


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
