"""``gim-faust report --html``: the report of an Info Mart loaded with the ``day`` scenario and
its aggregates, opened in headless Chromium (Debian's ``chromium``, installed here when
missing), which must show it without page errors and with its charts drawn; its queue and
agent tables, per hour, equal the figures computed in Python from the scenario's
expected-aggregates.json; and, on a simulated day with consultations and user data, each
agent's consultation figures and the handle time by customer segment, checked against the
same figures counted in Python from the day's party rows."""

from __future__ import annotations

import asyncio
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
from statistics import mean
from typing import Any

import pytest
from gim_faust.loaders import html_report, summary
from gim_faust.transforms.keys import person_key

from gim_faust.gca import user_data_columns
from gim_faust.gca.objects import USER_DATA_KEYS, build_objects
from gim_faust.models.facts import InteractionResourceFact
from gim_faust.simulate import SimOptions, generate, write_configuration
from gim_faust.simulate.configdb_writer import rows
from tests.support import aggregates
from tests.support import gim_jobs as jobs
from tests.support import summary_figures as figures
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
    """The day's facts, queue and agent names, and aggregates."""
    return figures.load(fresh_db, db_factory(), versions)


def test_the_report_opens_in_chromium_with_its_charts(mart: str, chromium: Path,
                                                      tmp_path: Path) -> None:
    page = tmp_path / "out" / "report.html"
    done = subprocess.run([str(SCRIPT), "report", "--html", str(page)], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "GIM_TENANT": jobs.TENANT,
                               "GIM_INFOMART_DB_URL": mart, **aggregates.settings_env("day")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(page.resolve())
    text = page.read_text()

    # self-contained: nothing to fetch, nothing to run
    assert not re.search(r"<(script|link|img|iframe)\b|\b(src|href)=|url\(|@import", text, re.I)
    parser = Charts()
    parser.feed(text)
    offered, service_level, states = parser.charts
    hours = [r for r in figures.queue_hours("day") if r[1] is not None]
    # a bar per queue and hour for offered and for answered where not 0, and 2 in the legend
    assert offered["rect"] == sum((r[2] > 0) + (r[3] > 0) for r in hours) + 2
    assert service_level["rect"] == len({r[1] for r in hours if r[3] + r[4]}) + 2
    assert states["rect"] > 800           # 846 state intervals, 16 agents
    for name in ("Billing", "Support", "Chat", "maya.petrov0", "nils.okafor1"):
        assert f">{name}<" in text
    for caption in ("Queues per local hour", "Agents: calls handled per local hour"):
        assert f"<caption>{caption}</caption>" in text
    assert "the Info Mart keeps no customer segment" in text   # the day keeps no user data

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


def blocks(grid: list[list[str]]) -> dict[str, list[list[str]]]:
    """A grid's lines by the resource they belong to (named on its first line), so that the
    order of names, which is the server's collation, does not matter."""
    out: dict[str, list[list[str]]] = {}
    name = ""
    for line in grid:
        name = line[0] or name
        out.setdefault(name, []).append(line[1:])
    return out


def test_the_reports_queue_and_agent_tables_are_the_expected_aggregates(mart: str) -> None:
    tables = Tables(html_report.build(mart, "UTC")).tables
    for caption, want in (
            ("Queues per local hour", summary.queue_grid(figures.queue_hours("day"), "UTC")),
            ("Agents: calls handled per local hour",
             summary.agent_grid(figures.agent_hours("day"), "UTC"))):
        have = tables[caption]
        assert have[0] == want[0]
        assert len(have[0]) > 8   # the name (and figure) columns, 8 hours, the totals
        assert blocks(have[1:]) == blocks(want[1:])


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


def user_data_mappings(options: SimOptions) -> dict[str, Any]:
    """The user-data keys the simulated center keeps, as GCA publishes them."""
    return next(obj["keys"] for (kind, _), obj in build_objects(rows(options, 1)).items()
                if kind == USER_DATA_KEYS)


@pytest.fixture
def consulting_day(fresh_db: str, db_factory: Callable[[], str]) -> tuple[str, list[Any]]:
    """The day's final rows loaded as the loader loads them, into the user-data columns GCA
    adds for its kept keys, and the agents' names as GCA writes them: (Info Mart, facts)."""
    facts = list(replay(CONSULTING_DAY, generate(CONSULTING_DAY)).rows.values())
    jobs.infomart(fresh_db)
    asyncio.run(user_data_columns.sync(fresh_db, user_data_mappings(CONSULTING_DAY)))
    jobs.load_facts(fresh_db, facts)
    config = db_factory()
    write_configuration(config, CONSULTING_DAY)
    jobs.sync_dimensions(config, fresh_db)
    return fresh_db, facts


def test_the_report_shows_each_agents_consultations(
        consulting_day: tuple[str, list[Any]]) -> None:
    """The report's consultation table holds, for every agent, what the party rows say."""
    url, facts = consulting_day
    table = Tables(html_report.build(url, "UTC")).tables["Consultations"]
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


def segment_figures(parties: list[InteractionResourceFact]) -> list[list[str]]:
    """Per customer segment (then the parties without one): the final customer parties and
    their mean talk + hold + after-call work, formatted as the report shows them."""
    handle: dict[str | None, list[int]] = defaultdict(list)
    for party in parties:
        if party.customer_handle_count == 1 and party.active_flag == 0:
            segment = (party.user_data or {}).get("customer_segment")
            handle[segment].append(party.talk_duration + party.hold_duration
                                   + party.after_call_work_duration)
    return [["(none)" if segment is None else segment, str(len(times)), f"{mean(times):.1f}"]
            for segment, times in sorted(handle.items(), key=lambda i: (i[0] is None, i[0] or ""))]


def test_the_report_shows_handle_time_by_customer_segment(
        consulting_day: tuple[str, list[Any]]) -> None:
    url, facts = consulting_day
    table = Tables(html_report.build(url, "UTC")).tables["Handle time by customer segment"]
    assert table[0] == ["customer segment", "customer calls handled", "AHT (s)"]
    want = segment_figures([f for f in facts if isinstance(f, InteractionResourceFact)])
    assert table[1:] == want
    assert {"Gold", "Silver", "Bronze"} <= {row[0] for row in want}
