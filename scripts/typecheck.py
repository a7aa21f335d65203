"""Type-checks gim-faust as it is installed: ``mypy --strict`` on the pure core
(``gim_faust.transforms``, ``gim_faust.tables``) and mypy's default strictness on the rest.

mypy cannot follow the ``[tool.setuptools.package-dir]`` mapping that installs ``tables/``,
``transforms/`` and ``loaders/`` inside ``gim_faust``, so the package is laid out as links
in a scratch directory first, and the paths mypy prints are mapped back to the repository's.
Exit status: mypy's (0 clean, 1 errors).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAPPED = ("tables", "transforms", "loaders")
STRICT = ("gim_faust.transforms", "gim_faust.tables")


def layout(scratch: Path) -> None:
    package = scratch / "gim_faust"
    package.mkdir()
    for entry in (REPO / "gim_faust").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in MAPPED:
        (package / name).symlink_to(REPO / name)


def run(scratch: Path, *args: str) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
         "--cache-dir", str(REPO / ".mypy_cache"), *args],
        cwd=scratch, capture_output=True, text=True)
    mapped = re.compile(rf"^gim_faust/({'|'.join(MAPPED)})/", re.M)
    print(mapped.sub(r"\1/", result.stdout), end="")
    print(result.stderr, end="", file=sys.stderr)
    return result.returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gim-typecheck-") as tmp:
        scratch = Path(tmp)
        layout(scratch)
        everything = run(scratch, "-p", "gim_faust")
        core = run(scratch, "--strict", *(arg for name in STRICT for arg in ("-p", name)))
    return max(everything, core)


if __name__ == "__main__":
    sys.exit(main())
