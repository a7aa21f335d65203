"""``gim-faust report --html``: the report of an Info Mart loaded with the ``day`` scenario,
opened in headless Chromium (Debian's ``chromium``, installed here when missing), which must
show it without page errors and with its charts drawn; and, on a simulated day with
consultations, each agent's consultation figures, checked against the same figures counted
in Python from the day's party rows."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from gim_faust.loaders import html_report
from gim_faust.transforms.keys import person_key

from gim_faust.models.facts import InteractionResourceFact
from gim_faust.simulate import SimOptions, generate, write_configuration
from gim_faust.simulate.configdb_writer import rows
from tests.support import gim_jobs as jobs
from tests.support.simulated import replay

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("gim-faust")
CHROMIUM = Path("/usr/bin/chromium")
# Chromium's own complaints (no D-Bus, no GPU in a container) are not the page's: these are.
PAGE_ERRORS = re.compile(r":CONSOLE|Uncaught|net::ERR_|Failed to load resource|Not allowed to load")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get when this machine has none (as on a fresh CI
    runner)."""
    if not CHROMIUM.exists():
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
            done = subprocess.run([*sudo, *command], env=env, capture_output=True, text=True,
                                  timeout=900)
            if done.returncode:
                pytest.fail(f"{' '.join(command)} failed ({done.returncode}): "
                            f"{done.stderr[-2000:]}", pytrace=False)
    return CHROMIUM


def screenshot(chromium: Path, page: Path, png: Path, profile: Path) -> str:
    """Opens ``page`` headless and writes a 1400x2000 screenshot; Chromium's stderr."""
    done = subprocess.run(
        [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}",
         f"--screenshot={png}", "--window-size=1400,2000", page.resolve().as_uri()],
        cwd=png.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered scanlines of an 8-bit RGB or RGBA PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, bytearray(), b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(bytes(idat)), width * bpp
    rows, prev = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = bytes(line)
        rows.append(prev)
    return width, height, [bytes(r[i:i + 3]) for r in rows for i in range(0, stride, bpp)]


class Charts(HTMLParser):
    """Per <svg> of a document, how many of each element it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[Counter[str]] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.charts.append(Counter())
            self.depth += 1
        elif self.depth:
            self.charts[-1][tag] += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.charts[-1][tag] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.depth -= 1


@pytest.fixture
def mart(fresh_db: str, db_factory: Callable[[], str], versions: list[Any]) -> str:
    """The day's facts, and the configuration dimensions (queue and agent names) GCA writes."""
    jobs.infomart(fresh_db)
    jobs.load_facts(fresh_db, versions)
    jobs.sync_dimensions(jobs.config_db(db_factory()), fresh_db)
    return fresh_db


def test_the_report_opens_in_chromium_with_its_charts(mart: str, chromium: Path,
                                                      tmp_path: Path) -> None:
    page = tmp_path / "out" / "report.html"
    done = subprocess.run([str(SCRIPT), "report", "--html", str(page)], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "GIM_TENANT": jobs.TENANT,
                               "GIM_INFOMART_DB_URL": mart})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(page.resolve())
    text = page.read_text()

    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r"<(script|link|img|iframe)\b|\b(src|href)=|url\(|@import", text, re.I)
    parser = Charts()
    parser.feed(text)
    offered, service_level, states = parser.charts
    assert offered["rect"] > 5 * 2 * 20   # 5 queues, offered and answered, most of 32 slots
    assert service_level["rect"] > 25     # 32 intervals over the day
    assert states["rect"] > 800           # 846 state intervals, 16 agents
    for name in ("Billing", "Support", "Chat", "maya.petrov0", "nils.okafor1"):
        assert f">{name}<" in text
    assert "<caption>Queues</caption>" in text and "<caption>Agents</caption>" in text

    png = tmp_path / "report.png"
    stderr = screenshot(chromium, page, png, tmp_path / "chromium-profile")
    problems = [line for line in stderr.splitlines() if PAGE_ERRORS.search(line)]
    assert not problems, "\n".join(problems)
    width, height, pixels = png_pixels(png.read_bytes())
    assert (width, height) == (1400, 2000)
    colours = Counter(pixels)
    assert len(colours) > 3, "blank screenshot"
    for key in ("offered", "answered", "sl_ok", "READY", "NOT_READY", "AFTER_CALL_WORK"):
        rgb = bytes.fromhex(html_report.COLORS[key][1:])
        assert colours[rgb] > 200, f"no {key} ({html_report.COLORS[key]}) in the screenshot"
    print(f"\nreport: {page}\nscreenshot: {png}")


# A small simulated day with consultations of every ending (11, 3 of them consult transfers
# and 3 conferences: the test checks there are some of each, not these numbers).
CONSULTING_DAY = SimOptions(jobs.TENANT, agents=12, hours=3, seed=5,
                            start=datetime(2026, 11, 2, 8, tzinfo=timezone.utc))


class Tables(HTMLParser):
    """The cells of each <table> of a document, by caption."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._cell: list[str] | None = None
        self._rows: list[list[str]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows = []
        elif tag == "tr":
            self._rows.append([])
        elif tag in ("td", "th", "caption"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._cell is not None:
            self._caption, self._cell = "".join(self._cell), None
        elif tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table" and self._caption is not None:
            self.tables[self._caption] = self._rows


def consultation_figures(options: SimOptions,
                         parties: list[InteractionResourceFact]) -> list[list[str]]:
    """Per agent (by name, as the report orders them): consultations initiated and received,
    customers received by consult transfer, conferences joined, consult talk seconds."""
    names = {person_key(person[0]): person[3] for person in rows(options, 1)["cfg_person"]}
    figures: dict[int, Counter[str]] = defaultdict(Counter)
    for party in parties:
        figures[party.resource_key][party.resource_role] += 1
        if party.resource_role in ("INITIATED_CONSULT", "RECEIVED_CONSULT"):
            figures[party.resource_key]["talk"] += party.talk_duration
    roles = ("INITIATED_CONSULT", "RECEIVED_CONSULT", "RECEIVED_TRANSFER", "CONFERENCE_JOINED",
             "talk")
    return [[names[key], *(str(figures[key][role]) for role in roles)]
            for key in sorted(figures, key=lambda k: (names[k], k))]


def test_the_report_shows_each_agents_consultations(fresh_db: str,
                                                     db_factory: Callable[[], str]) -> None:
    """The day's final rows loaded as the loader loads them, the agents' names as GCA writes
    them: the report's consultation table holds, for every agent, what the party rows say."""
    facts = list(replay(CONSULTING_DAY, generate(CONSULTING_DAY)).rows.values())
    jobs.infomart(fresh_db)
    jobs.load_facts(fresh_db, facts)
    config = db_factory()
    write_configuration(config, CONSULTING_DAY)
    jobs.sync_dimensions(config, fresh_db)

    table = Tables(html_report.build(fresh_db)).tables["Consultations"]
    assert table[0] == ["agent", "consultations initiated", "consultations received",
                        "customers received by consult transfer", "conferences joined",
                        "consult talk (s)"]
    parties = [f for f in facts if isinstance(f, InteractionResourceFact)]
    want = consultation_figures(CONSULTING_DAY, parties)
    assert table[1:] == want
    consultations = sum(1 for f in facts if getattr(f, "consult_of_interaction_id", None))
    totals = [sum(int(row[i]) for row in want) for i in range(1, 6)]
    assert totals[0] == totals[1] == consultations > 0
    assert all(total > 0 for total in totals[2:])
