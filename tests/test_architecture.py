"""The layout keeps its promises: small modules, a thin front, no import cycles, nothing below the
front importing it, and every reach rule in one place (governance/reach.py).

These read the source with :mod:`ast` (nothing is imported), so they are fast and see every
import: module-level, function-level and ``if TYPE_CHECKING:`` ones alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fieldid"
MAX_MODULE_LINES = 600
MAX_FRONT_LINES = 200


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The fieldid modules ``name`` imports, wherever the import statement is."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"  # `from package import module` imports the module
                if target in MODULES:
                    found.add(target)
                elif base in MODULES:
                    found.add(base)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_every_kind_of_import():
    assert "fieldid.service" in GRAPH["fieldid.api.deps"]  # module level
    assert "fieldid.service" in GRAPH["fieldid.cli.app"]  # inside a function
    assert "fieldid.governance.jwt_auth" in GRAPH["fieldid.governance.authenticator"]  # TYPE_CHECKING


def test_there_is_no_import_cycle():
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("layer", ["core", "storage", "records", "governance"])
def test_lower_layers_never_import_the_service_front(layer):
    offenders = sorted(m for m in MODULES
                       if m.startswith(f"fieldid.{layer}") and "fieldid.service" in GRAPH[m])
    assert offenders == []


def test_core_stays_pure():
    """core/ takes arrays and returns values: it imports nothing of FieldID outside core/ but the
    dataclasses of types.py and the error tree."""
    allowed = {"fieldid.types", "fieldid.errors"}
    offenders = {m: sorted(i for i in GRAPH[m] if not i.startswith("fieldid.core") and i not in allowed)
                 for m in MODULES if m.startswith("fieldid.core")}
    assert {m: i for m, i in offenders.items() if i} == {}


def test_no_module_exceeds_600_lines():
    long = {name: n for name,
            p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_the_front_stays_thin():
    assert len(MODULES["fieldid.service"].read_text().splitlines()) <= MAX_FRONT_LINES


# -- reach rules ---------------------------------------------------------------------------------------
#: The one home of reach rules, and the data layer: storage/ and records/links.py run queries for
#: an agency id their caller passes in (a lookup, not a decision about who may see what).
REACH_HOME = {"fieldid.governance.reach"}
DATA_LAYER = ("fieldid.storage", "fieldid.records.links")


def _names(node: ast.expr) -> set[str]:
    """The attribute or variable name an operand ends with (``search.agency_id`` → agency_id)."""
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.Name):
        return {node.id}
    return set()


def reach_checks(source: str) -> list[tuple[int, str]]:
    """Comparisons that decide reach: an agency id (``x.agency_id``, ``owner_agency_id`` …) compared
    with anything; a training-mode flag (``training_mode``, a search's ``training``) compared with
    anything; a gallery ``kind`` compared with "training" (the sandbox). Every ``==``, ``!=``,
    ``in`` and ``not in`` counts, in Python and in SQLAlchemy expressions alike."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        names = set().union(*(_names(o) for o in operands))
        constants = {o.value for o in operands if isinstance(o, ast.Constant)}
        if any(n.endswith("agency_id") for n in names):
            found.append((node.lineno, "agency"))
        elif names & {"training_mode", "training"}:
            found.append((node.lineno, "training mode"))
        elif "kind" in names and "training" in constants:
            found.append((node.lineno, "training sandbox"))
    return sorted(found)


def test_the_reach_grep_finds_what_it_should():
    code = """
if search.agency_id != actor.agency_id: pass
q.where(Review.agency_id == actor.agency_id)
ok = actor.agency_id in policy.agencies
if search.training != actor.training_mode: pass
if g.kind == "training": pass
if g.kind == "demo" or user.role == "x": pass
"""
    assert [kind for _, kind in reach_checks(code)] == ["agency", "agency", "agency", "training mode",
                                                        "training sandbox"]


def test_reach_rules_live_only_in_reach_py():
    stray = {name: reach_checks(path.read_text()) for name, path in MODULES.items()
             if name not in REACH_HOME and not name.startswith(DATA_LAYER)}
    assert {name: found for name, found in stray.items() if found} == {}
    assert reach_checks(MODULES["fieldid.governance.reach"].read_text())  # the rules are there


# -- one way in and out ------------------------------------------------------------------------------
def _calls(name: str) -> set[str]:
    """What a module calls: function and method names (``x.append_event()`` → append_event), and
    ``store.read``/``store.write`` for a session opened on a store."""
    out = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Call):
            out |= _names(node.func)
            func = node.func
            if isinstance(func, ast.Attribute) and _names(func.value) == {"store"}:
                out.add(f"store.{func.attr}")
    return out


def test_every_audit_event_is_appended_through_the_context():
    callers = sorted(m for m in MODULES if "append_event" in _calls(m))
    assert callers == ["fieldid.context"]


@pytest.mark.parametrize("layer", ["fieldid.api", "fieldid.web", "fieldid.cli"])
def test_interfaces_read_through_services_only(layer):
    """Routes, the web app's routes and CLI commands open no database session and build no query."""
    session_calls = {"store.read", "store.write", "select", "query", "execute"}
    offenders = {m: sorted(_calls(m) & session_calls) for m in MODULES if m.startswith(layer)}
    assert {m: c for m, c in offenders.items() if c} == {}
