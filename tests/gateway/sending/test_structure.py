"""The send engine's shape: no import cycle, task and job states written in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"


def module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    parts = parts[parts.index("ejoin") :]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """ejoin modules this one imports, those for type checking only included (a cycle there is one too)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("ejoin"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("ejoin"):
                out.add(target)
                out.update(f"{target}.{a.name}" for a in node.names)  # "from . import recovery"
    return out


def cycles_through_sending(src: Path) -> list[str]:
    files = {module_name(p): p for p in (src / "ejoin").rglob("*.py")}
    graph = {name: {m for m in imports(path) if m in files and m != name} for name, path in files.items()}
    watched = [n for n in graph if n.startswith("ejoin.gateway.sending") or n == "ejoin.gateway.reports"]
    found = []
    for start in watched:
        # every module reachable from start; a cycle exists if start is reachable from itself
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
        if start in seen:
            found.append(start)
    return found


def test_no_import_cycle_through_the_send_engine_or_reports():
    assert cycles_through_sending(SRC) == []


BARE_STATE = [
    re.compile(r"\.state\s*(==|!=|<=|>=|<|>)\s*\d"),  # job.state == 2
    re.compile(r"(WHERE|AND|SET|SUM\()\s*state\s*(=|<|>|<=|>=)\s*\d"),  # SQL: WHERE state < 2
    re.compile(r"^\s*(QUEUED|PAUSED|IN_MODULE)\b.*=\s*\d"),  # QUEUED, PAUSED, ... = 0, 1, ...
]


def bare_state_numbers(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*.py"):
        if path.name in ("task_states.py", "migrations.py"):  # the definition; frozen schema history
            continue
        if path.parts[-3:] == ("fleet", "ledger", "states.py"):  # the fleet ledger's own states, defined
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if any(p.search(line) for p in BARE_STATE):
                found.append(f"{path.name}:{n}: {line.strip()}")
    return found


def test_task_and_job_states_are_never_bare_numbers():
    assert bare_state_numbers(SRC / "ejoin") == []
