"""The verifier package stands alone: it imports and verifies in a fresh interpreter holding only itself and its
declared dependencies (license_verifier/pyproject.toml), with no hub, no undeclared package and no site-packages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "license_verifier"
VECTORS = ROOT / "tests" / "vectors"

# Run with -I -S: no site-packages, no environment, no working directory on sys.path; only the given folder.
SCRIPT = """
import json, sys
from datetime import datetime
from pathlib import Path
sys.path.insert(0, sys.argv[1])
try:
    import hub
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the hub is importable in the isolated interpreter: the test proves nothing")
from license_verifier import Status, TrustList, verify
vectors = Path(sys.argv[2])
expected = json.loads((vectors / "expected.json").read_text())
trust = TrustList.from_document(json.loads((vectors / expected["trust_list"]).read_text()))
now = datetime.fromisoformat(expected["now"])
for name in ("valid.txt", "valid_eddsa.txt", "flipped_byte.txt", "bad_cbor.txt"):
    result = verify((vectors / name).read_text().strip(), trust, now)
    assert result.status.value == expected["cases"][name], (name, result.status, result.reason)
valid = verify((vectors / "valid.txt").read_text().strip(), trust, now)
assert valid.status is Status.VALID and valid.license["id"].startswith("1.2.156.3005.2."), valid
print("verified", valid.license["id"])
"""


def _requirements(requirement: Requirement, extras: set[str]) -> list[Requirement]:
    """Return requirement's own requirements that apply here, its extras included."""
    found = []
    for text in distribution(requirement.name).requires or []:
        child = Requirement(text)
        applies = [child.marker is None or child.marker.evaluate({"extra": extra}) for extra in extras | {""}]
        if any(applies):
            found.append(child)
    return found


def _closure(declared: list[str]) -> set[str]:
    """Return the distribution names the declared requirements need, transitively."""
    names: set[str] = set()
    pending = [Requirement(text) for text in declared]
    while pending:
        requirement = pending.pop()
        if requirement.name.lower() in names:
            continue
        try:
            pending += _requirements(requirement, set(requirement.extras))
        except PackageNotFoundError:
            pytest.fail(f"license_verifier declares {requirement.name!r}, which is not installed here")
        names.add(requirement.name.lower())
    return names


def _site(tmp_path: Path, package: Path) -> Path:
    """Build a folder holding only the verifier package and the files of its declared distributions."""
    site = tmp_path / "site"
    shutil.copytree(package, site / "license_verifier", ignore=shutil.ignore_patterns("__pycache__"))
    declared = tomllib.loads((package / "pyproject.toml").read_text())["project"]["dependencies"]
    for name in _closure(declared):
        dist = distribution(name)
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if ".." in file.parts or not source.is_file():  # console scripts live outside site-packages
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return site


def _run(site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-S", "-c", SCRIPT, str(site), str(VECTORS)],
                          capture_output=True, text=True, cwd=site, timeout=120)


def test_the_verifier_runs_with_only_its_declared_dependencies(tmp_path):
    ran = _run(_site(tmp_path, PACKAGE))
    assert ran.returncode == 0, (
        "license_verifier must import and verify with nothing but its own folder and the dependencies "
        "declared in license_verifier/pyproject.toml (no hub import, no undeclared package):\n" + ran.stderr)
    assert ran.stdout.startswith("verified 1.2.156.3005.2.")


def test_a_hub_import_in_the_verifier_fails_the_isolated_run(tmp_path):
    package = tmp_path / "copy"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    errors = package / "errors.py"
    errors.write_text(errors.read_text() + "\nimport hub.core.national_ids  # noqa: E402,F401\n")
    ran = _run(_site(tmp_path, package))
    assert ran.returncode != 0 and "No module named 'hub'" in ran.stderr, ran.stderr
