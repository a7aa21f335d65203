"""The pure rendering of gim_faust.loaders.html_report on small hand-made rows. The report on a
loaded Info Mart, in a browser: tests/integration/test_report.py."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from html.parser import HTMLParser

from gim_faust.loaders import html_report

T0 = int(datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc).timestamp())


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


def test_offered_and_answered_bars_one_per_nonzero_value() -> None:
    rows = [("Billing", T0, 4, 3), ("Billing", T0 + 900, 2, 0), ("Sales", T0 + 1800, 5, 5)]
    svg = html_report.offered_answered_svg(rows)
    found = Elements(svg)
    assert found.tags[0][0] == "svg"
    assert found.classes() == {"bar offered": 3, "bar answered": 2, "legend": 2}
    assert "Billing" in found.text and "Sales" in found.text
    assert "3/6" in found.text and "5/5" in found.text   # answered/offered per queue


def test_bars_share_one_scale_the_largest_offered_fills_the_panel() -> None:
    found = Elements(html_report.offered_answered_svg([("A", T0, 10, 5), ("B", T0, 5, 5)]))
    heights = sorted(float(a["height"] or 0) for t, a in found.tags
                     if t == "rect" and a.get("class", "").startswith("bar"))
    assert heights[0] == heights[1] == heights[2] == heights[3] / 2


def test_service_level_one_bar_per_interval_with_calls_coloured_by_target() -> None:
    rows = [(T0, 10, 9), (T0 + 900, 4, 1), (T0 + 1800, 0, 0), (T0 + 2700, 5, 4)]
    found = Elements(html_report.service_level_svg(rows))
    bars = [a for t, a in found.tags if t == "rect" and a.get("class") == "bar sl"]
    assert len(bars) == 3   # the interval with nothing offered has no bar
    assert [b["fill"] for b in bars] == [html_report.COLORS["sl_ok"], html_report.COLORS["sl_low"],
                                         html_report.COLORS["sl_ok"]]   # 90%, 25%, 80%


def test_agent_timeline_one_row_per_agent_one_rect_per_state() -> None:
    rows = [("ann", "READY", at(8, 0), at(8, 30)), ("ann", "NOT_READY", at(8, 30), at(9, 0)),
            ("ann", "AFTER_CALL_WORK", at(9, 0), at(9, 5)), ("bob", "READY", at(8, 10), None),
            ("bob", "ON_BREAK", at(7, 50), at(8, 10))]
    found = Elements(html_report.agent_timeline_svg(rows, now=at(10, 0)))
    assert found.classes() == {"state ready": 2, "state not-ready": 1,
                               "state after-call-work": 1, "state other": 1, "legend": 3}
    labels = [t for t in found.text if t in ("ann", "bob")]
    assert labels == ["ann", "bob"]
    # the open interval runs to `now`, the right end of the axis (10:00)
    bob = [a for t, a in found.tags if t == "rect" and a.get("class") == "state ready"][1]
    assert float(bob["x"] or 0) + float(bob["width"] or 0) == html_report.WIDTH - html_report.RIGHT


def test_names_are_escaped() -> None:
    evil = '<script>alert("x")</script> & co'
    html = html_report.render([(evil, T0, 1, 1)], [(T0, 1, 1)],
                         [(evil, "READY", at(8, 0), at(8, 15))],
                         html_report.summary_tables([], [(evil, 1, 1, 0, None, None)], []),
                         at(12, 0), title=evil)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in html
    found = Elements(html)
    assert not [t for t, _ in found.tags if t in ("script", "link", "img", "iframe")]
    assert evil in found.text   # decoded back by the parser: shown as text, as given


def test_empty_infomart_gives_messages_not_charts() -> None:
    html = html_report.render([], [], [], html_report.summary_tables([], [], []), at(12, 0))
    found = Elements(html)
    assert not [t for t, _ in found.tags if t == "svg"]
    assert sum(1 for t, a in found.tags if t == "p" and a.get("class") == "empty") == 3


def test_summary_tables_format_like_the_text_summary() -> None:
    found = Elements(html_report.summary_tables(
        [("VOICE", "COMPLETED", 643)],
        [("Billing", 176, 158, 3, 8.84, 0.781)],
        [("ann", 52, 285.24, None)]))
    assert [a for t, a in found.tags if t == "table"] == [{}, {}, {}]
    for cell in ("643", "8.8", "78%", "285.2", "-"):
        assert cell in found.text


def test_consultations_table_one_row_per_agent_with_its_figures() -> None:
    found = Elements(html_report.consultations_table([("ann", 3, 1, 2, 0, 245),
                                                      ("bob", 0, 2, 0, 1, 80)]))
    assert [t for t, _ in found.tags].count("tr") == 3   # the header and one per agent
    for text in ("Consultations", "consultations initiated", "consultations received",
                 "customers received by consult transfer", "conferences joined",
                 "consult talk (s)", "ann", "245", "bob", "80"):
        assert text in found.text
