"""Conventional module discovery: contexts register things by placing a module at a known name."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def context_modules(package: ModuleType, submodule: str) -> list[ModuleType]:
    """`<package>.<ctx>.<submodule>` for every sub-package that has one, in name order.

    A sub-package without the module is skipped; an import error inside an existing module is raised.
    """
    found: list[ModuleType] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        name = f"{package.__name__}.{info.name}.{submodule}"
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return found


def import_all(package: ModuleType) -> None:
    """Import every module below `package` (never a `__main__`): registers everything declared at import."""
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
