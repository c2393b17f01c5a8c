"""No module of hub/ keeps state of its own: caches and registries belong to the Services object (hub.services).

A module-level container is state when it starts empty (it exists to be filled) or when a function of the module
fills or empties it; a function rebinding a module-level name (`global`) keeps state too; an `lru_cache` or
`cache` decorator keeps every answer. Constants (tables, a non-empty dict never written to) are not state.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MUTABLE_FACTORIES = {"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "Counter", "deque",
                     "WeakValueDictionary", "WeakKeyDictionary", "WeakSet", "local"}
MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "popleft", "clear",
            "remove", "discard", "appendleft", "__setitem__", "__delitem__"}
MEMOISERS = {"cache", "lru_cache"}
# Named "<module file stem>.<name>", so an entry holds wherever the module's folder is.
ALLOWED = {
    # Memoised functions of constants: each answer is fixed by its arguments, and the arguments are few.
    "qrencode._remainder_table": "the Reed-Solomon remainder table of one degree",
    "qrencode._layout": "the module layout of one QR version",
    "qrencode._planes": "the bit planes of one symbol size",
    "qrimage.qr_symbol": "the QR symbol of a text (64 kept): the PNG and the SVG of a license draw the same one",
    "table._char_width": "the width of one glyph of a font",
    "pdf._setup": "reportlab's process-wide settings, made once",
    "fonts._register": "the CJK font of a path, registered with reportlab once",
    "server._nobodys_keys": "a public key whose private half was never kept, one per process",
    # A process that renders PDFs has no Services: each job brings its key (docs/wiring.md, "Where caches live").
    "rendering._keys": "loaded private keys of a rendering process, 64 at most",
    "rendering._shared": "the process's pool of rendering processes, closed at exit",
    "pades._signers": "pyHanko signers by key and certificates, 64 at most",
    "pades._local": "each thread's event loop for pyHanko's signer",
}


def _name(node: ast.expr) -> str | None:
    """The last name of a called or decorating expression: `functools.lru_cache(maxsize=8)` -> lru_cache."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _container(value: ast.expr | None) -> str | None:
    """'empty' or 'filled' if value makes a mutable container, else None."""
    if isinstance(value, (ast.Dict, ast.List, ast.Set)):
        return "filled" if getattr(value, "keys", None) or getattr(value, "elts", None) else "empty"
    if isinstance(value, (ast.DictComp, ast.ListComp, ast.SetComp)):
        return "filled"
    if isinstance(value, ast.Call) and _name(value) in MUTABLE_FACTORIES:
        positional = value.args[1:] if _name(value) == "defaultdict" else value.args
        filling = positional or [keyword for keyword in value.keywords if keyword.arg != "maxlen"]
        return "filled" if filling else "empty"
    return None


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run at import, inside module-level if, try and with blocks too."""
    for statement in body:
        yield statement
        if isinstance(statement, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody", "handlers"):
                for inner in getattr(statement, block, []):
                    yield from _module_level(inner.body if isinstance(inner, ast.ExceptHandler) else [inner])


def _containers(tree: ast.Module) -> dict[str, tuple[int, str]]:
    """Module-level names bound to mutable containers: name -> (line, 'empty' or 'filled')."""
    found = {}
    for statement in _module_level(tree.body):
        targets = (statement.targets if isinstance(statement, ast.Assign)
                   else [statement.target] if isinstance(statement, ast.AnnAssign) else [])
        kind = _container(getattr(statement, "value", None))
        for target in targets:
            if kind and isinstance(target, ast.Name):
                found[target.id] = (statement.lineno, kind)
    return found


def _written_name(node: ast.AST) -> str | None:
    """The name a statement or call inside a function writes into, if it writes into one."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return node.value.id if isinstance(node.value, ast.Name) else None
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS
            and isinstance(node.func.value, ast.Name)):
        return node.func.value.id
    return None


def state_of(tree: ast.Module) -> dict[str, tuple[int, str]]:
    """name -> (line, what makes it state) for the state a module keeps."""
    containers = _containers(tree)
    state = {name: (line, "a module-level container that starts empty")
             for name, (line, kind) in containers.items() if kind == "empty"}
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if any(_name(decorator) in MEMOISERS for decorator in function.decorator_list):
            state.setdefault(function.name, (function.lineno, "a memoised function (lru_cache or cache)"))
        local = {arg.arg for arg in ast.walk(function.args) if isinstance(arg, ast.arg)}
        local |= {node.id for node in ast.walk(function)
                  if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
        for node in ast.walk(function):
            if isinstance(node, ast.Global):
                for name in node.names:
                    state.setdefault(name, (node.lineno, f"rebound by {function.name}() (global)"))
            written = _written_name(node)
            if written in containers and written not in local:
                state.setdefault(written, (containers[written][0],
                                           f"a module-level container {function.name}() writes"))
    return state


def test_state_is_found_and_constants_are_not() -> None:
    tree = ast.parse(
        "TABLE = {'a': 1}\nNAMES = ['x']\nLIMITS = dict(a=1)\n_seen = {}\n_hits: dict = dict(a=1)\n_pool = None\n"
        "def hit(key):\n    _hits[key] = 1\n    local = {}\n    local['k'] = TABLE['a']\n    return NAMES[0]\n"
        "def pool():\n    global _pool\n    _pool = object()\n"
        "@functools.lru_cache(maxsize=8)\ndef width(c):\n    return len(c)\n")
    assert sorted(state_of(tree)) == ["_hits", "_pool", "_seen", "width"]


def test_no_module_of_the_hub_keeps_state() -> None:
    offenders, allowed_found = [], set()
    for path in sorted((ROOT / "hub").rglob("*.py")):
        for name, (line, why) in sorted(state_of(ast.parse(path.read_text(encoding="utf-8"))).items()):
            if f"{path.stem}.{name}" in ALLOWED:
                allowed_found.add(f"{path.stem}.{name}")
            else:
                offenders.append(f"    {path.relative_to(ROOT).as_posix()}:{line} {name}: {why}")
    assert not offenders, (
        "modules of hub/ keep state; give it to an object the Services own (hub/services.py), or, if it is a "
        "constant, name it in ALLOWED here with why:\n" + "\n".join(offenders))
    stale = sorted(set(ALLOWED) - allowed_found)
    assert not stale, f"ALLOWED names what no module of hub/ keeps any more; remove {', '.join(stale)}"
