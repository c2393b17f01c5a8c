"""No source file over 300 lines: a longer one holds more than one thing, and is split by what it holds."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 300
# Held to the limit: the service, the standalone verifier, the connectors, the demo systems and the benchmarks.
# tests/ is not: a test module keeps the cases of one behaviour together.
FOLDERS = ("hub", "license_verifier", "connectors", "demo_systems", "bench")


def test_no_source_file_over_300_lines() -> None:
    sources = [path for folder in FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))]
    assert sources, f"no Python source found under {', '.join(FOLDERS)}"
    lengths = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
               for path in sources}
    over = {name: length for name, length in lengths.items() if length > MAX_LINES}
    assert not over, f"source files over {MAX_LINES} lines (split each by what it holds):\n" + "\n".join(
        f"    {name}: {length} lines" for name, length in sorted(over.items(), key=lambda item: -item[1]))
