"""The module graph keeps its shape: who may import whom (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import ejoin

ROOT = Path(ejoin.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ejoin module ``path`` imports (anywhere in it, lazy imports too), as absolute names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import x` names a module
    return {m for m in found if m == "ejoin" or m.startswith("ejoin.")}


GRAPH = {_module_name(p): _imports(p) for p in ROOT.rglob("*.py")}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _importers(target: str) -> set[str]:
    return {m for m, deps in GRAPH.items() if any(_in(d, target) for d in deps) and not _in(m, target)}


def _module_of(name: str) -> str:
    """The module an imported name lives in (``ejoin.gateway.plugin.DriverKind`` -> ``ejoin.gateway.plugin``)."""
    while name and name not in GRAPH:
        name = name.rpartition(".")[0]
    return name


def _imported_modules(path: Path) -> set[str]:
    """The ejoin modules ``path`` imports anywhere in it (deferred imports, TYPE_CHECKING ones too):
    ``from . import x`` names the module x, ``from .x import y`` the module x (or x.y if y is one)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(_module_of(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in GRAPH else _module_of(target))
    return {m for m in found if m.startswith("ejoin")} - {name}


# Every import of every module, deferred ones (in functions, under TYPE_CHECKING) included, as modules.
MODULES = {_module_name(p): _imported_modules(p) for p in ROOT.rglob("*.py")}
DRIVERS = ("ejoin.sim", "ejoin.atdriver", "ejoin.modems.at")  # packages of modem drivers (entry points)


def test_the_graph_was_read():
    assert "ejoin.gateway.plugin" in MODULES["ejoin.gateway.runtime"]
    assert "ejoin.gateway.plugin" in MODULES["ejoin.sim"] and len(MODULES) > 100


def test_protocol_imports_nothing_of_ejoin_but_protocol():
    for module, deps in GRAPH.items():
        if _in(module, "ejoin.protocol"):
            assert all(_in(d, "ejoin.protocol") for d in deps), (module, deps)


def test_modems_never_import_the_gateway_or_a_driver():
    for module, deps in GRAPH.items():
        if _in(module, "ejoin.modems"):
            allowed = ("ejoin.modems", "ejoin.protocol", "ejoin.clock")
            assert all(any(_in(d, a) for a in allowed) for d in deps), (module, deps)


def test_no_part_of_ejoin_imports_a_driver():
    """Drivers are found by their entry points (pyproject.toml); a driver may build on another's package
    (the emulator on the AT driver), and the CLI runs the emulator alone (ejoin modem-emulator)."""
    for module, deps in MODULES.items():
        if any(_in(module, d) for d in DRIVERS) or module == "ejoin.cli":
            continue
        assert not [d for d in deps if any(_in(d, drv) for drv in DRIVERS)], module
    assert {m for m, deps in MODULES.items() if any(_in(d, "ejoin.sim") for d in deps)} - {"ejoin.cli"} <= {
        m for m in MODULES if _in(m, "ejoin.sim")
    }


def test_the_store_knows_nothing_of_the_gateway():
    for module, deps in MODULES.items():
        if _in(module, "ejoin.store"):
            assert not [d for d in deps if _in(d, "ejoin.gateway")], module


def test_the_core_imports_none_of_its_edges():
    """The device's behaviour (gateway/) sits below the HTTP layer, the fleet, the SDK and the SMPP
    server that use it: a driver's web routes reach it as protocol's ``Bound``, not web's ``Route``."""
    edges = ("ejoin.web", "ejoin.fleet", "ejoin.client", "ejoin.smpp", "ejoin.cli", "ejoin.testing")
    for module, deps in MODULES.items():
        if _in(module, "ejoin.gateway"):
            assert not [d for d in deps if any(_in(d, e) for e in edges)], module


def test_the_smpp_server_is_put_beside_the_device_where_the_program_is_put_together():
    """Neither the gateway nor the fleet knows the SMPP server: it is attached (gateway/attached.py)
    by the commands that serve them and by ``ejoin.testing``."""
    importers = {
        m for m, deps in MODULES.items() if any(_in(d, "ejoin.smpp") for d in deps) and not _in(m, "ejoin.smpp")
    }
    assert importers == {"ejoin.cli", "ejoin.fleet.cli", "ejoin.testing"}


def test_the_clock_stands_alone():
    assert GRAPH["ejoin.clock"] == set()


def test_no_import_cycle():
    """Counting every import: one under TYPE_CHECKING or in a function ties two modules all the same."""
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    path: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dep in sorted(MODULES.get(module, ())):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path[path.index(dep) :], dep]))
            if dep not in state:
                walk(dep)
        path.pop()
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            walk(module)
    assert len(state) == len(MODULES) > 100
