"""`errors.py`'s docstring draws every exception class Handrail defines: a class left out of it fails here."""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import handrail.errors

SOURCE = Path(handrail.errors.__file__).parent
BUILTIN_EXCEPTIONS = {
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def exception_classes(source: Path) -> dict[str, str]:
    """Every exception class defined under `source`, as it is named in the tree → its file and line."""
    classes: list[tuple[str, str, list[str], str]] = []
    for path in sorted(source.rglob("*.py")):
        module = ".".join(path.relative_to(source).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [_base_name(base) for base in node.bases]
                classes.append((module, node.name, bases, f"{path}:{node.lineno}"))
    known = set(BUILTIN_EXCEPTIONS) | {"HTTPException", "StarletteHTTPException"}
    found: dict[str, str] = {}
    while True:
        grown = False
        for module, name, bases, place in classes:
            tree_name = name if module == "errors" else f"{module.removesuffix('.__init__')}.{name}"
            if tree_name not in found and any(base in known for base in bases):
                found[tree_name] = place
                known.add(name)
                grown = True
        if not grown:
            return found


def drawn_in_tree() -> set[str]:
    doc = handrail.errors.__doc__ or ""
    return set(re.findall(r"^    (?:[│ ]*[├└]── )?([A-Za-z_][\w.]*)\s", doc, flags=re.MULTILINE))


def test_every_exception_class_handrail_defines_is_drawn_in_the_errors_tree() -> None:
    missing = {name: place for name, place in exception_classes(SOURCE).items() if name not in drawn_in_tree()}
    assert not missing, "not in handrail/errors.py's tree: " + ", ".join(f"{n} ({p})" for n, p in missing.items())


def test_the_errors_tree_names_no_class_that_does_not_exist() -> None:
    defined = set(exception_classes(SOURCE))
    drawn = {name for name in drawn_in_tree() if name[0].isupper() or "." in name} - {"Exception"}
    assert drawn <= defined, f"drawn but not defined: {sorted(drawn - defined)}"


def test_the_exception_walk_finds_a_stray_class(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text("class Refused(KeyError):\n    pass\n\n\nclass Worse(Refused):\n    pass\n")
    assert set(exception_classes(tmp_path)) == {"probe.Refused", "probe.Worse"}
