"""The package layout is a one-way street: front doors (CLI, HTTP server, web UI, the MCP
server) call the service layer, the service layer calls the capabilities, and nothing
below imports anything above it. Checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import autonom

SRC = Path(autonom.__file__).parent
FRONT_DOORS = ("autonom.cli", "autonom.server", "autonom.ui", "autonom.mcp.server",
               "autonom.__main__")
SERVICES = ("autonom.services",)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names, lazy imports inside functions
    included (``from autonom.services import gateway`` names both)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith("autonom.")}


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def modules() -> list[tuple[str, set[str]]]:
    return [(module_name(p), imported(p)) for p in sorted(SRC.rglob("*.py"))]


def test_nothing_below_the_front_doors_imports_one() -> None:
    wrong = [f"{name} imports {target}" for name, targets in modules()
             if not within(name, FRONT_DOORS) for target in sorted(targets)
             if within(target, FRONT_DOORS)]
    assert wrong == []


def test_capabilities_never_import_the_service_layer() -> None:
    above = (*FRONT_DOORS, *SERVICES)
    wrong = [f"{name} imports {target}" for name, targets in modules()
             if name != "autonom" and not within(name, above)  # the package re-exports
             for target in sorted(targets) if within(target, SERVICES)]
    assert wrong == []


def test_the_checks_see_the_layers() -> None:
    """The walk finds the front doors importing the service layer (a check that found
    nothing at all would pass for any layout)."""
    found = dict(modules())
    assert "autonom.services.gateway" in found["autonom.server.app"]
    assert "autonom.services.grounding" in found["autonom.mcp.server"]
