"""Package `__init__` files that import their modules only when a name is used.

`import tfdeeplab.data.shard_format` (pure Python, imported by the converters'
workers) must not load Keras and TensorFlow through the package's `__init__`, while
`from tfdeeplab.models import build_model` keeps working.
A package lists which module each public name lives in; the module is imported on
first access (PEP 562 module `__getattr__`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """`__getattr__`, `__dir__` and `__all__` for a package with lazy exports.

    Args:
        package: str. The package's `__name__`.
        exports: mapping from a module name relative to the package (`builder`),
            or a full one (`tfdeeplab.experiment.train_job`, for a name kept where
            it used to be), to the public names it defines (`["build_model"]`).

    Returns:
        (`__getattr__`, `__dir__`, `__all__`) to assign in the package.

    Example:
        >>> __getattr__, __dir__, __all__ = lazy_exports(
        ...     __name__, {"builder": ["build_model"]})
    """
    owners = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        module = owners.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        full = module if "." in module else f"{package}.{module}"
        return getattr(importlib.import_module(full), name)

    def __dir__() -> list[str]:
        return sorted(owners)

    return __getattr__, __dir__, sorted(owners)
