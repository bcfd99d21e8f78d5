"""The package's layering, read from its import graph: floors, no cycles, no private imports.

Every import statement of every module counts, function-local ones included (a lazy import is
still a dependency). The floors, bottom up (docs/architecture.md):

    0  artifacts                      on-disk formats, Keras-free
    1  graph, layers, losses, metrics
    2  data
    3  models
    4  training
    5  serving
    6  cli                            imported by nothing but itself

A module may import its own package and packages on lower floors; the root `hiertcn_keras`
imports nothing. `artifacts` and `graph` import no deep-learning framework.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hiertcn_keras"
PACKAGE = "hiertcn_keras"
FLOORS = {
    "limits": 0,  # hiertcn_keras/limits.py: the input limits every floor shares
    "artifacts": 0,
    "graph": 1,
    "layers": 1,
    "losses": 1,
    "metrics": 1,
    "data": 2,
    "models": 3,
    "training": 4,
    "serving": 5,
    "cli": 6,
}


def module_files(root, package):
    """`{module name: path}` of every `.py` file under `root` (a package named `package`)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports(modules, package):
    """`[(importer, imported module, imported name or None, line)]`, inside `package` only."""
    found = []
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [(base, alias.name) for alias in node.names]
            else:
                continue
            for base, imported in targets:
                if base != package and not base.startswith(package + "."):
                    continue
                if imported is not None and f"{base}.{imported}" in modules:
                    base, imported = f"{base}.{imported}", None  # `from pkg import module`
                while base not in modules:
                    base = base.rpartition(".")[0]
                if base != name:
                    found.append((name, base, imported, node.lineno))
    return found


def cycles(edges):
    """The strongly connected components with more than one module (Tarjan), sorted."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
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
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def floor_violations(found, package, floors):
    """Imports that go up (or sideways into another package of the same floor), or into cli."""
    bad = []
    for importer, imported, _, line in found:
        a, b = importer.split(".")[1:2], imported.split(".")[1:2]
        if not a:
            bad.append(f"{importer}:{line} imports {imported} (the package root imports nothing)")
            continue
        if not b:
            continue  # the root holds only `__version__`
        if a[0] == b[0]:
            continue
        if floors[b[0]] >= floors[a[0]]:
            bad.append(f"{importer}:{line} imports {imported}: floor {floors[a[0]]} ({a[0]}) may not "
                       f"import floor {floors[b[0]]} ({b[0]})")
    return bad


def private_imports(found):
    """`from module import _name` of another module's private name."""
    return [f"{importer}:{line} imports {imported}.{name}" for importer, imported, name, line in found
            if name is not None and name.startswith("_") and not name.startswith("__")]


def private_attributes(modules, package):
    """`module._name` where `module` is a name bound to another module of the package."""
    bad = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and aliases[node.value.id] != name
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return bad


FRAMEWORK_FREE = ("artifacts", "graph")
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")


def framework_imports(modules, packages):
    """Imports of a deep-learning framework by a module of `packages` (function-local included)."""
    bad = []
    for name, path in modules.items():
        if name.split(".")[1:2] and name.split(".")[1] in packages:
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                bad += [f"{name}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in FRAMEWORKS]
    return bad


@pytest.fixture(scope="module")
def graph():
    modules = module_files(ROOT, PACKAGE)
    return modules, imports(modules, PACKAGE)


def test_every_package_has_a_floor(graph):
    modules, _ = graph
    packages = {name.split(".")[1] for name in modules if name.count(".") >= 1}
    assert packages <= set(FLOORS), f"packages without a floor: {sorted(packages - set(FLOORS))}"


def test_no_module_cycles(graph):
    _, found = graph
    assert cycles((a, b) for a, b, _, _ in found) == []


def test_no_import_against_the_floors(graph):
    _, found = graph
    assert floor_violations(found, PACKAGE, FLOORS) == []


def test_no_private_name_used_outside_its_module(graph):
    modules, found = graph
    assert private_imports(found) + private_attributes(modules, PACKAGE) == []


def test_the_lowest_floors_import_no_framework(graph):
    modules, _ = graph
    assert framework_imports(modules, FRAMEWORK_FREE) == []


def test_the_checks_catch_a_planted_cycle_upward_import_and_private_name(tmp_path):
    # A tiny package: data.a -> data.b -> data.a (a cycle), data.b -> models.m (upward),
    # models.m -> data.c._hidden (a private name, via `from ... import`).
    root = tmp_path / "pkg"
    for folder in ("data", "models"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "data" / "a.py").write_text("def f():\n    from pkg.data import b\n")
    (root / "data" / "c.py").write_text("_hidden = 1\n")
    (root / "data" / "b.py").write_text("from . import a\nimport pkg.models.m\n")
    (root / "models" / "m.py").write_text("from pkg.data.c import _hidden\n")
    (root / "data" / "k.py").write_text("def f():\n    import keras.ops\n")
    modules = module_files(root, "pkg")
    found = imports(modules, "pkg")
    assert cycles((a, b) for a, b, _, _ in found) == [["pkg.data.a", "pkg.data.b"]]
    assert floor_violations(found, "pkg", {"data": 2, "models": 3}) == [
        "pkg.data.b:2 imports pkg.models.m: floor 2 (data) may not import floor 3 (models)"]
    assert private_imports(found) == ["pkg.models.m:1 imports pkg.data.c._hidden"]
    assert framework_imports(modules, ("data",)) == ["pkg.data.k:2 imports keras.ops"]
