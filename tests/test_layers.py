"""The package's imports: no private names of dependencies, no cycles, leaves at the bottom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "graph"
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of each import of a module, `if TYPE_CHECKING:` ones included, absolute.

    An import made only for type checking still ties the two modules together.
    """
    tree = ast.parse(path.read_text())
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names]))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_private_name_of_a_dependency_is_imported(path: Path) -> None:
    for module, names in imports(path):
        if module in ("graph", "__future__") or module.startswith("graph."):
            continue
        private = [part for part in module.split(".") if part.startswith("_")]
        private += [name for name in names if name.startswith("_")]
        assert not private, f"{module_name(path)} imports {private} from {module}"
    source = path.read_text()
    for attribute in ("._schema", "._is_default", "coerce_default_value"):
        assert attribute not in source, f"{module_name(path)} uses {attribute}"


def graph_imports() -> dict[str, set[str]]:
    names = {module_name(path) for path in MODULES}
    edges: dict[str, set[str]] = {}
    for path in MODULES:
        targets = set()
        for module, imported in imports(path):
            # `from a import b` imports module a.b when there is one, else a name of a.
            for name in imported or [None]:
                candidate = f"{module}.{name}" if f"{module}.{name}" in names else module
                if candidate in names and candidate != module_name(path):
                    targets.add(candidate)
        edges[module_name(path)] = targets
    return edges


def test_the_package_has_no_import_cycle() -> None:
    edges = graph_imports()

    # A package imports its submodules to re-export them; that is not a cycle.
    def depends(source: str, target: str) -> bool:
        return not target.startswith(source + ".")

    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in edges[node]:
            if state.get(target) == "open":
                cycle = trail[trail.index(target) :] if target in trail else trail
                raise AssertionError(f"import cycle: {' -> '.join([*cycle, target])}")
            if target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


@pytest.mark.parametrize("leaf", ["graph.constants", "graph.values", "graph.store.columns"])
def test_leaves_import_nothing_of_the_package(leaf: str) -> None:
    assert graph_imports()[leaf] == set()


def test_configuration_imports_only_the_constants() -> None:
    assert graph_imports()["graph.config"] == {"graph.constants"}
