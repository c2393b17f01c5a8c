"""docs/architecture.md stays true: every file, folder and module it names exists, and it names every layer."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"[A-Za-z_][\w.-]*(?:/[\w.-]+)*/[\w.-]*")
MODULE = re.compile(r"(?:hub|license_verifier|connectors|demo_systems)(?:\.\w+)+")


def _defines(module: Path, name: str) -> bool:
    """Whether the module binds name at its top level (a class, function, assignment or import)."""
    names = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return name in names


def missing_module(dotted: str) -> str | None:
    """Why a dotted name (module, or module then a name it defines) names nothing, or None if it names something."""
    parts = dotted.split(".")
    for length in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:length])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.is_file():
            rest = parts[length:]
            if rest and not _defines(module, rest[0]):
                return f"{'.'.join(parts[:length])} defines no {rest[0]}"
            return None
    return "no such module"


def test_module_names_are_checked() -> None:
    assert missing_module("hub.services.Services") is None
    assert missing_module("hub.services.Nothing") == "hub.services defines no Nothing"
    assert missing_module("hub.nowhere") == "hub defines no nowhere"


def test_every_name_the_page_gives_exists() -> None:
    names = CODE.findall(DOC.read_text(encoding="utf-8"))
    paths = [name for name in names if PATH.fullmatch(name)]
    modules = [name for name in names if MODULE.fullmatch(name)]
    assert paths and modules, "docs/architecture.md names no path or module in backticks: is it the page it was?"
    problems = [f"    {path}: not in the repository" for path in dict.fromkeys(paths) if not (ROOT / path).exists()]
    problems += [f"    {module}: {why}" for module in dict.fromkeys(modules) if (why := missing_module(module))]
    assert not problems, "docs/architecture.md names what the repository does not hold:\n" + "\n".join(problems)


def test_the_page_names_every_layer() -> None:
    text = DOC.read_text(encoding="utf-8")
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = [name.strip() for contract in contracts["contracts"] if contract["type"] == "layers"
              for layer in contract["layers"] for name in layer.replace(":", "|").split("|")]
    assert layers, "pyproject.toml has no layers contract"
    missing = [name for name in layers if f"`{name.replace('.', '/')}/`" not in text and f"`{name}`" not in text]
    assert not missing, f"docs/architecture.md does not place these layers of pyproject.toml: {', '.join(missing)}"
