"""The package layout is a one-way street: front doors (CLI, HTTP server, web UI, the MCP
server) call the service layer, the service layer calls the capabilities, and nothing
below imports anything above it. Checked on the import statements of every module."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from enum import Enum
from pathlib import Path

from pydantic import BaseModel

import autonom

SRC = Path(autonom.__file__).parent
FRONT_DOORS = ("autonom.cli", "autonom.server", "autonom.ui", "autonom.mcp.server",
               "autonom.mcp.http", "autonom.__main__")
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


# -- what front doors may take from below the service layer ------------------------------

SHARED = ("autonom.types", "autonom.errors", "autonom.config", "autonom.logs",
          "autonom.metrics", "autonom.streams")
"""The vocabulary every layer speaks: request and answer types, errors, settings, logs,
counters, stream helpers."""
PURE = ("autonom.catalog", "autonom.evals.report", "autonom.evals.metrics",
        "autonom.knowledge.hygiene_html", "autonom.redteam.report", "autonom.redteam.attacks",
        "autonom.examples")
"""Libraries that compute or render from the values they are given (the model catalog and
its arithmetic, report pages, metric gates, attack payloads) or are programs of their own
(the example ERP server): no store, no model, no rule shared by the doors."""


def runtime_imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) of every import of ``path`` outside ``if TYPE_CHECKING:`` blocks;
    name None for ``import autonom.x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for stmt in node.body for n in ast.walk(stmt)}
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [(node.module, alias.name) for alias in node.names]
    return [(m, n) for m, n in found if m.startswith("autonom")]


def is_data(value: object) -> bool:
    """A type that holds data (a dataclass, pydantic model, enum, named tuple, protocol,
    exception) or a constant — nothing that does work."""
    if isinstance(value, type):
        return (dataclasses.is_dataclass(value) or issubclass(value, BaseModel | Enum | tuple
                                                              | BaseException)
                or getattr(value, "_is_protocol", False))
    return not callable(value) and not inspect.ismodule(value)


def reaches_around(module: str, name: str | None) -> str | None:
    """Why a front door's import goes around the service layer (None: it does not)."""
    allowed = (*FRONT_DOORS, *SERVICES, *SHARED, *PURE)
    if name is not None:
        try:
            submodule = importlib.import_module(f"{module}.{name}")
        except ImportError:
            pass
        else:
            return None if within(submodule.__name__, allowed) else f"imports {submodule.__name__}"
    if module == "autonom":
        return None if name in (None, "__version__") else f"takes {name} from autonom"
    if within(module, allowed):
        return None
    if name is None:
        return f"imports {module}"
    value = getattr(importlib.import_module(module), name)
    return None if is_data(value) else f"takes {name} from {module}"


def test_front_doors_reach_capabilities_only_through_the_service_layer() -> None:
    wrong = [f"{module_name(path)} {why}" for path in sorted(SRC.rglob("*.py"))
             if within(module_name(path), FRONT_DOORS)
             for module, name in runtime_imports(path)
             if (why := reaches_around(module, name)) is not None]
    assert wrong == []


def test_the_front_door_check_tells_data_from_work() -> None:
    assert reaches_around("autonom.store.keys", "ApiKey") is None
    assert reaches_around("autonom.store.keys", "SCOPES") is None
    assert reaches_around("autonom.store.keys", "KeyStore") is not None
    assert reaches_around("autonom.knowledge.hygiene", "check") is not None
    assert reaches_around("autonom.store", "request_log") is not None
    assert reaches_around("autonom.evals", "report") is None
