"""The public API stays small and honest: `__all__` names only what exists, once."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import handrail

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(handrail.__path__, prefix="handrail.") if not name.endswith("__main__")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_all_names_only_what_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    # the order itself is ruff's RUF022 (isort-style: constants, classes, functions)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"
