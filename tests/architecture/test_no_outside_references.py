"""Nothing in the repository points outside it: no machine's own paths, no link to a file it does not hold."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where one machine keeps its users' and its own files: a path under these names works on that machine only.
# System paths are not among them (the CJK font under /usr/share/fonts, /etc/postgresql in the Makefile,
# /var/lib/hub in the container, /tmp sockets of the tests, /etc/passwd in path-traversal cases).
MACHINE_PATH = re.compile(r"(?<![\w.-])/(?:work|root|home|Users|mnt|opt|media|scratch)/[\w.-]", re.IGNORECASE)
WINDOWS_PATH = re.compile(r"\b[A-Z]:\\(?:Users|work)\\", re.IGNORECASE)
UPWARD = re.compile(r"(?<![\w./-])((?:\.\./)+[\w.-]+(?:/[\w.-]+)*)")
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# Path-traversal cases of the tests climb above a folder on purpose; a Markdown link there is checked all the same.
UPWARD_CASES = "tests/"


def tracked_text() -> dict[str, str]:
    """The repository's tracked text files (decodable as UTF-8), by path."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    texts = {}
    for name in names.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file():
            try:
                texts[name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return texts


def _inside(origin: str, target: str) -> bool:
    """Whether target, relative to origin's folder, names a file or folder of the repository."""
    resolved = (ROOT / origin).parent.joinpath(target).resolve()
    return resolved.is_relative_to(ROOT) and resolved.exists()


def outside_references(name: str, text: str) -> list[str]:
    """What in one file points outside the repository, each as 'file:line: what'."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in [*MACHINE_PATH.finditer(line), *WINDOWS_PATH.finditer(line)]:
            found.append(f"{name}:{number}: a machine's path {match.group(0)}…")
        if not name.startswith(UPWARD_CASES):
            for match in UPWARD.finditer(line):
                if not (ROOT / name).parent.joinpath(match.group(1)).resolve().is_relative_to(ROOT):
                    found.append(f"{name}:{number}: {match.group(1)} leads out of the repository")
        if name.endswith(".md"):
            for match in MARKDOWN_LINK.finditer(line):
                target = match.group(1).split("#", 1)[0]
                if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not _inside(name, target):
                    found.append(f"{name}:{number}: the link {match.group(1)} names nothing in the repository")
    return found


def test_outside_references_are_found() -> None:
    home = "/" + "home/"  # written apart, so this file does not name a machine's path itself
    text = f"see {home}someone/design.md and [design](../shared/design.md)\n[ok](README.md) [web](https://x.example)"
    assert outside_references("README.md", text) == [
        f"README.md:1: a machine's path {home}s…", "README.md:1: ../shared/design.md leads out of the repository",
        "README.md:1: the link ../shared/design.md names nothing in the repository"]
    assert outside_references("hub/x.py", 'FONT = "/usr/share/fonts/x.ttc"  # hub/home/ and api/work/') == []


def test_nothing_points_outside_the_repository() -> None:
    texts = tracked_text()
    assert "pyproject.toml" in texts, "git ls-files listed no pyproject.toml: not run in the repository?"
    found = [line for name, text in sorted(texts.items()) for line in outside_references(name, text)]
    assert not found, "the repository points outside itself:\n" + "\n".join(f"    {line}" for line in found)
