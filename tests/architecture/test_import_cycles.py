"""No import cycles between the packages of hub/: each imports only what lies below it, whatever the layers say."""

from __future__ import annotations

from collections import deque

import grimp

ROOT_PACKAGE = "hub"


def _package(module: str) -> str:
    """The package of hub/ (or top-level module, e.g. hub.main) a module belongs to."""
    return ".".join(module.split(".")[:2])


def package_imports(graph: grimp.ImportGraph) -> dict[tuple[str, str], tuple[str, str]]:
    """(importing package, imported package) -> one (importer, imported) pair of modules that makes the edge."""
    edges: dict[tuple[str, str], tuple[str, str]] = {}
    for module in sorted(graph.modules):
        if module == ROOT_PACKAGE or not module.startswith(f"{ROOT_PACKAGE}."):
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported.startswith(f"{ROOT_PACKAGE}.") and _package(module) != _package(imported):
                edges.setdefault((_package(module), _package(imported)), (module, imported))
    return edges


def _path(successors: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The shortest path of packages from start to goal, or None."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])
            return path[::-1]
        for following in sorted(successors.get(node, ())):
            if following not in previous:
                previous[following] = node
                queue.append(following)
    return None


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """One shortest cycle through each import that closes one, each once, as [a, b, ..., a]."""
    successors: dict[str, set[str]] = {}
    for importer, imported in edges:
        successors.setdefault(importer, set()).add(imported)
    found: dict[frozenset[tuple[str, str]], list[str]] = {}
    for importer, imported in sorted(edges):
        back = _path(successors, imported, importer)
        if back is not None:
            cycle = [importer, *back]
            found.setdefault(frozenset(zip(cycle, cycle[1:])), cycle)
    return list(found.values())


def test_cycles_are_found_and_named() -> None:
    edges = {("hub.a", "hub.b"), ("hub.b", "hub.c"), ("hub.c", "hub.a"), ("hub.c", "hub.d")}
    assert [" -> ".join(cycle) for cycle in cycles(edges)] == ["hub.a -> hub.b -> hub.c -> hub.a"]
    assert cycles({("hub.a", "hub.b"), ("hub.b", "hub.c")}) == []


def test_no_import_cycle_between_packages_of_the_hub() -> None:
    graph = grimp.build_graph(ROOT_PACKAGE, exclude_type_checking_imports=True, cache_dir=None)
    edges = package_imports(graph)
    report = []
    for cycle in cycles(set(edges)):
        report.append(" -> ".join(cycle))
        for importer, imported in zip(cycle, cycle[1:]):
            module, target = edges[(importer, imported)]
            lines = sorted(detail["line_number"] for detail in graph.get_import_details(importer=module,
                                                                                        imported=target))
            report.append(f"    {module} imports {target} (line {', '.join(map(str, lines)) or '?'})")
    assert not report, "import cycles between packages of hub/:\n" + "\n".join(report)
