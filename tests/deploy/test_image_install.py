"""The Dockerfile's install steps, without Docker: its build stage's COPY lines gather the
sources, `pip wheel` builds the wheel as the build stage does, and scripts/image-install.sh,
the very script the image runs, installs it into a fresh virtual environment and runs
`gim-faust --help`."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from tests.deploy.conftest import REPO, run

DOCKERFILE = REPO / "Dockerfile"


def build_stage_copies() -> list[str]:
    """The sources the build stage copies (``COPY <src>... <dest>`` before the second FROM)."""
    stage = DOCKERFILE.read_text().split("\nFROM ", 2)[1]
    sources = []
    for line in stage.splitlines():
        if re.match(r"COPY\s", line) and "--from" not in line:
            sources += line.split()[1:-1]
    return sources


def test_the_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    context = tmp_path / "gim-faust"   # the build stage's WORKDIR
    for source in build_stage_copies():
        origin = REPO / source
        if origin.is_dir():
            shutil.copytree(origin, context / source,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            context.mkdir(exist_ok=True)
            shutil.copy(origin, context / source)
    assert (context / "pyproject.toml").is_file() and (context / "gim_faust").is_dir()
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels,
        context)
    (wheel,) = wheels.glob("gim_faust-*.whl")
    done = run("sh", REPO / "scripts" / "image-install.sh", wheels, tmp_path / "venv")
    assert "gim-faust runs" in done.stdout
    help_text = run(tmp_path / "venv" / "bin" / "gim-faust", "--help").stdout
    for command in ("gca", "gsp", "gim", "infomart"):
        assert command in help_text
    # The installed package is the wheel's, not this checkout's, with its migrations.
    where = run(tmp_path / "venv" / "bin" / "python", "-I", "-c",   # -I: not the checkout
                "import gim_faust.loaders as l; print(l.__file__)").stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), (wheel, where)
    assert list((Path(where).parent / "migrations").glob("*.sql"))
