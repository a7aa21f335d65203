"""``@record``: frozen to the type checker, a fast plain slotted dataclass at run time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gim_faust.models.record import record

REPO = Path(__file__).resolve().parents[3]


@record
class Point:
    x: int
    y: int = 0


def test_a_record_compares_and_hashes_like_a_frozen_dataclass() -> None:
    assert Point(1, 2) == Point(1, 2) != Point(1, 3)
    assert len({Point(1, 2), Point(1, 2), Point(2)}) == 2
    assert not hasattr(Point(1), "__dict__")  # slotted: no stray attribute can be set


def test_assigning_to_a_field_of_a_record_is_a_type_error(tmp_path: Path) -> None:
    snippet = tmp_path / "assign.py"
    snippet.write_text("from gim_faust.models.record import record\n\n\n"
                       "@record\nclass Point:\n    x: int\n\n\n"
                       "Point(1).x = 2\n")
    checked = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", str(snippet)],
                             capture_output=True, text=True, cwd=REPO)
    assert checked.returncode == 1, checked.stdout
    assert 'Property "x" defined in "Point" is read-only' in checked.stdout
