"""The import contracts of pyproject.toml hold, with no exception, and every package of hub/ has a layer."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Modules of hub/ that sit above the domain layers, beside create_app, and so are in no layer.
ABOVE_THE_LAYERS = {
    "hub.demo": "the demo data and the demo of `make run`",
    "hub.migrations": "Alembic's environment and scripts, run by hub.services",
}


def _importlinter() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def _keys(value: object, path: str = "") -> list[str]:
    """Every key under value, as dotted paths (list items by index)."""
    if isinstance(value, dict):
        named = {key: f"{path}.{key}" if path else key for key in value}
        return [found for key, item in value.items() for found in [named[key], *_keys(item, named[key])]]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _keys(item, f"{path}[{index}]")]
    return []


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, f"lint-imports found broken contracts:\n{run.stdout}{run.stderr}"


def test_no_contract_has_an_exception() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    exceptions = [key for key in _keys(config) if key.rsplit(".", 1)[-1] == "ignore_imports"]
    assert not exceptions, f"pyproject.toml excepts imports from its contracts at {exceptions}: fix the import instead"


def test_every_package_of_the_hub_has_a_layer() -> None:
    layered = set()
    for contract in _importlinter()["contracts"]:
        if contract["type"] == "layers":
            for layer in contract["layers"]:
                layered.update(name.strip() for name in layer.replace(":", "|").split("|"))
    packages = {f"hub.{path.parent.name}" for path in (ROOT / "hub").glob("*/__init__.py")}
    missing = sorted(packages - layered - set(ABOVE_THE_LAYERS))
    assert not missing, (f"{', '.join(missing)}: in no layer of the layers contract (pyproject.toml), so nothing "
                         "checks what they import; add each to its layer, or to ABOVE_THE_LAYERS here with why")
