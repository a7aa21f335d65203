"""The pure rendering of gim_faust.loaders.html_report on small hand-made rows. The report on a
loaded Info Mart, in a browser: tests/integration/test_report.py."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest
from gim_faust.loaders import html_report


def at(hh: int, mm: int) -> datetime:
    return datetime(2026, 11, 2, hh, mm, tzinfo=timezone.utc)


class Elements(HTMLParser):
    """Start tags with their attributes, and the text, of a document."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def classes(self, tag: str = "rect") -> Counter[str]:
        return Counter(a.get("class") or "" for t, a in self.tags if t == tag)


def bars(found: Elements, cls: str) -> list[dict[str, str | None]]:
    return [a for t, a in found.tags if t == "rect" and a.get("class") == cls]


def tick_labels(found: Elements) -> list[str]:
    return [t for t in found.text if len(t) == 5 and t[2] == ":"]


def test_offered_and_answered_bars_one_per_nonzero_value() -> None:
    rows = [("Billing", at(8, 0), 4, 3, 0, None, None), ("Billing", at(9, 0), 2, 0, 2, 0, None),
            ("Billing", None, 6, 3, 2, 0.6, 1.0), ("Sales", at(10, 0), 5, 5, 0, 1, 2.0)]
    found = Elements(html_report.offered_answered_svg(rows, "UTC"))
    assert found.tags[0][0] == "svg"
    assert found.classes() == {"bar offered": 3, "bar answered": 2, "legend": 2}
    assert "Billing" in found.text and "Sales" in found.text
    assert "3/6" in found.text and "5/5" in found.text   # answered/offered per queue, totals
    # the hours of the day, in bars of an hour: 08:00 to 11:00 on each queue's axis
    assert tick_labels(found) == ["08:00", "09:00", "10:00", "11:00"] * 2
    offered = bars(found, "bar offered")
    assert float(offered[1]["x"] or 0) - float(offered[0]["x"] or 0) == pytest.approx(
        html_report.PLOT / 3, abs=0.1)


def test_bars_share_one_scale_the_largest_offered_fills_the_panel() -> None:
    found = Elements(html_report.offered_answered_svg([("A", at(8, 0), 10, 5),
                                                       ("B", at(8, 0), 5, 5)], "UTC"))
    heights = sorted(float(a["height"] or 0) for t, a in found.tags
                     if t == "rect" and a.get("class", "").startswith("bar"))
    assert heights[0] == heights[1] == heights[2] == heights[3] / 2


def test_hours_are_labelled_in_the_tenants_local_time() -> None:
    # India is 5:30 ahead: its local hours start at half past in UTC
    found = Elements(html_report.offered_answered_svg([("A", at(8, 30), 1, 1)], "Asia/Kolkata"))
    assert tick_labels(found) == ["14:00", "15:00"]
    assert "A 14:00: 1 offered" in found.text


def test_an_hour_the_clock_repeats_is_its_own_bar() -> None:
    # Berlin, 2026-10-25: 02:00-03:00 local twice (00:00 and 01:00 UTC)
    rows = [(datetime(2026, 10, 25, h, tzinfo=timezone.utc), 10, 8) for h in (0, 1, 2)]
    found = Elements(html_report.service_level_svg(rows, "Europe/Berlin"))
    assert len(bars(found, "bar sl")) == 3
    assert tick_labels(found) == ["02:00", "02:00", "03:00", "04:00"]


def test_service_level_one_bar_per_hour_with_calls_coloured_by_target() -> None:
    rows = [(at(8, 0), 10, 9), (at(9, 0), 4, 1), (at(10, 0), 0, 0), (at(11, 0), 5, 4)]
    found = Elements(html_report.service_level_svg(rows, "UTC"))
    sl = bars(found, "bar sl")
    assert len(sl) == 3   # the hour with nothing answered or abandoned has no bar
    assert [b["fill"] for b in sl] == [html_report.COLORS["sl_ok"], html_report.COLORS["sl_low"],
                                       html_report.COLORS["sl_ok"]]   # 90%, 25%, 80%


def test_agent_timeline_one_row_per_agent_one_rect_per_state() -> None:
    rows = [("ann", "READY", at(8, 0), at(8, 30)), ("ann", "NOT_READY", at(8, 30), at(9, 0)),
            ("ann", "AFTER_CALL_WORK", at(9, 0), at(9, 5)), ("bob", "READY", at(8, 10), None),
            ("bob", "ON_BREAK", at(7, 50), at(8, 10))]
    found = Elements(html_report.agent_timeline_svg(rows, "UTC", now=at(10, 0)))
    assert found.classes() == {"state ready": 2, "state not-ready": 1,
                               "state after-call-work": 1, "state other": 1, "legend": 3}
    labels = [t for t in found.text if t in ("ann", "bob")]
    assert labels == ["ann", "bob"]
    # the open interval runs to `now`, the right end of the axis (10:00)
    bob = bars(found, "state ready")[1]
    assert float(bob["x"] or 0) + float(bob["width"] or 0) == html_report.WIDTH - html_report.RIGHT
    assert tick_labels(found) == ["07:00", "08:00", "09:00", "10:00"]


def test_names_are_escaped() -> None:
    evil = '<script>alert("x")</script> & co'
    html = html_report.render([(evil, at(8, 0), 1, 1, 0, 1, 2.0)], [(at(8, 0), 1, 1)],
                              [(evil, "READY", at(8, 0), at(8, 15))],
                              html_report.summary_tables(
                                  [], [(evil, at(8, 0), 1, 1, 0, 1, 2.0),
                                       (evil, None, 1, 1, 0, 1, 2.0)], [], "UTC"),
                              "UTC", at(12, 0), title=evil)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html
    found = Elements(html)
    assert not [t for t, _ in found.tags if t in ("script", "link", "img", "iframe")]
    assert evil in found.text   # decoded back by the parser: shown as text, as given


def test_empty_infomart_gives_messages_not_charts() -> None:
    html = html_report.render([], [], [], html_report.summary_tables([], [], [], "UTC")
                              + html_report.segment_table(None), "UTC", at(12, 0))
    found = Elements(html)
    assert not [t for t, _ in found.tags if t == "svg"]
    assert sum(1 for t, a in found.tags if t == "p" and a.get("class") == "empty") == 4


def test_summary_tables_show_the_summary_grids() -> None:
    found = Elements(html_report.summary_tables(
        [("VOICE", "COMPLETED", 643)],
        [("Billing", at(8, 0), 176, 158, 3, 0.781, 8.84), ("Billing", None, 176, 158, 3, 0.781,
                                                          8.84)],
        [("ann", at(8, 0), 52, 285.24, None), ("ann", None, 52, 285.24, None)], "Europe/Berlin"))
    assert [a for t, a in found.tags if t == "table"] == [{}, {}, {}]
    for cell in ("643", "09:00", "service level", "8.8", "78%", "285.2", "-"):
        assert cell in found.text


def test_segment_table_or_why_there_is_none() -> None:
    found = Elements(html_report.segment_table([("Gold", 12, 301.25), (None, 2, 90)]))
    assert [t for t, _ in found.tags].count("tr") == 3
    for cell in ("Handle time by customer segment", "Gold", "12", "301.2", "(none)", "90.0"):
        assert cell in found.text
    missing = Elements(html_report.segment_table(None))
    assert [a.get("class") for t, a in missing.tags] == ["empty"]
    assert "customer_segment" in "".join(missing.text)


def test_consultations_table_one_row_per_agent_with_its_figures() -> None:
    found = Elements(html_report.consultations_table([("ann", 3, 1, 2, 0, 245),
                                                      ("bob", 0, 2, 0, 1, 80)]))
    assert [t for t, _ in found.tags].count("tr") == 3   # the header and one per agent
    for text in ("Consultations", "consultations initiated", "consultations received",
                 "customers received by consult transfer", "conferences joined",
                 "consult talk (s)", "ann", "245", "bob", "80"):
        assert text in found.text
