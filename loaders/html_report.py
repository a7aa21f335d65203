"""``gim-faust report --html FILE``: a static, self-contained HTML report of the Info Mart.

The page has no scripts, no style sheets or fonts from elsewhere and makes no network request:
its charts are inline SVG drawn here, in Python. SQL (``loaders/summary.py`` and
``loaders/report_queries.py``, run by :func:`build`) and rendering (the pure functions, which
take rows and return SVG or HTML strings) are kept apart so the drawing can be tested on
hand-made rows. Times are the local time of the tenant's zone (``GIM_TIMEZONE``).

Charts, per local hour from the aggregate tables (definitions: ``loaders/summary.py``):

- offered vs answered per queue (``entered`` and ``accepted``);
- service level over the day, all queues together;
- agent state timeline: one row per agent, its ``sm_res_state_fact`` intervals coloured by
  state (READY, NOT_READY, AFTER_CALL_WORK).

Then the tables: interactions by media and status, the queues' and agents' figures per
local hour (the ``make demo`` summary's), each agent's consultations, and handle time by
customer segment (``loaders/report_queries.py`` defines the last two).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from gim_faust.loaders import report_queries, summary
from gim_faust.loaders.local_intervals import STEP_S, hours_and_days

SERVICE_LEVEL_TARGET = 0.8
# A bar's hour the axis does not know (a row of a former GIM_TIMEZONE) is drawn this long.
HOUR_S = 3600

COLORS = {"offered": "#9db7d5", "answered": "#1f5fa8", "sl_ok": "#2e8b57", "sl_low": "#e0a030",
          "READY": "#4caf50", "NOT_READY": "#e05d44", "AFTER_CALL_WORK": "#f2b134",
          "other": "#9e9e9e", "axis": "#555", "grid": "#e4e4e4"}
STATES = ("READY", "NOT_READY", "AFTER_CALL_WORK")

# chart geometry (SVG user units)
WIDTH = 1200
LEFT = 150
RIGHT = 20
PLOT = WIDTH - LEFT - RIGHT


# ------------------------------------------------------------------------------ helpers

def _t(value: Any) -> float:
    """Unix seconds of a datetime or a number of seconds."""
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _attrs(**attrs: Any) -> str:
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(str(v), quote=True)}"'
                    for k, v in attrs.items())


def _rect(x: float, y: float, w: float, h: float, fill: str, cls: str, title: str) -> str:
    return (f'<rect {_attrs(class_=cls, x=_f(x), y=_f(y), width=_f(max(w, 0.5)), height=_f(h), fill=fill)}>'
            f"<title>{escape(title)}</title></rect>")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11,
          cls: str = "label") -> str:
    return (f'<text {_attrs(class_=cls, x=_f(x), y=_f(y), text_anchor=anchor, font_size=size)}>'
            f"{escape(text)}</text>")


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, dash: str = "") -> str:
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" '
            f'stroke="{stroke}" stroke-width="1"{extra}/>')


def _svg(height: float, body: Iterable[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" {_attrs(aria_label=label)} '
            f'width="{WIDTH}" height="{_f(height)}" viewBox="0 0 {WIDTH} {_f(height)}">'
            + "".join(body) + "</svg>")


class TimeAxis:
    """Maps times (unix seconds) to x on the plot: the local hours of ``zone`` that hold
    ``[start, end)``, as long as each really is (``loaders/local_intervals.py``)."""

    def __init__(self, start: float, end: float, zone: str) -> None:
        first = int(start) // STEP_S * STEP_S
        hours, _ = hours_and_days(range(first, max(int(end), first + 1), STEP_S), zone)
        self.zone = ZoneInfo(zone)
        self.lengths = {hour.start_s: hour.length_s for hour in hours}
        self.start = hours[0].start_s
        self.end = hours[-1].start_s + hours[-1].length_s

    @classmethod
    def of_hours(cls, starts: Iterable[Any], zone: str) -> TimeAxis | None:
        """The axis of bars, one per local hour starting at ``starts``; None if none."""
        times = [_t(s) for s in starts]
        return cls(min(times), max(times) + 1, zone) if times else None

    def x(self, t: float) -> float:
        return LEFT + (t - self.start) / (self.end - self.start) * PLOT

    def bar(self, start: Any, share: float, offset: float = 0.0) -> tuple[float, float]:
        """x and width of a bar ``share`` as wide as the hour at ``start``, ``offset`` of
        that hour from its beginning."""
        t = _t(start)
        width = self.x(t + self.lengths.get(int(t), HOUR_S)) - self.x(t)
        return self.x(t) + offset * width, share * width

    def label(self, t: float) -> str:
        return datetime.fromtimestamp(t, self.zone).strftime("%H:%M")

    def ticks(self, top: float, bottom: float) -> list[str]:
        """A grid line at each local hour, its label below ``bottom``."""
        out = []
        for hour in [*self.lengths, self.end]:
            x = self.x(hour)
            out.append(_line(x, top, x, bottom, COLORS["grid"]))
            out.append(_text(x, bottom + 14, self.label(hour), "middle", 10, "tick"))
        return out


def _empty(message: str) -> str:
    return f'<p class="empty">{escape(message)}</p>'


# ----------------------------------------------------------------------------- charts

def offered_answered_svg(rows: Sequence[Sequence[Any]], zone: str) -> str:
    """One small chart per queue, all on the same time axis and scale: per local hour an
    offered bar and an answered bar. ``rows``: (queue name, hour start, offered, answered,
    ...) as :data:`summary.QUEUE_HOURS` gives them; its totals (no hour) are left out."""
    rows = [r for r in rows if r[1] is not None]
    axis = TimeAxis.of_hours((r[1] for r in rows), zone)
    if axis is None:
        return _empty("No queue activity in the Info Mart.")
    queues: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        queues.setdefault(str(row[0] if row[0] is not None else "(unnamed)"), []).append(row)
    top_value = max(int(r[2] or 0) for r in rows) or 1
    panel, gap, head = 90, 34, 28
    height = head + len(queues) * (panel + gap) + 10
    body = [_legend([("offered", COLORS["offered"]), ("answered", COLORS["answered"])], 8)]
    for i, (name, qrows) in enumerate(queues.items()):
        top = head + i * (panel + gap)
        bottom = top + panel
        body += axis.ticks(top, bottom)
        body.append(_line(LEFT, bottom, WIDTH - RIGHT, bottom, COLORS["axis"]))
        body.append(_text(LEFT - 10, top + panel / 2, name, "end", 12, "series"))
        offered_total = sum(int(r[2] or 0) for r in qrows)
        answered_total = sum(int(r[3] or 0) for r in qrows)
        body.append(_text(LEFT - 10, top + panel / 2 + 15, f"{answered_total}/{offered_total}",
                          "end", 10, "note"))
        body.append(_text(LEFT + 2, top + 9, f"max {top_value}", "start", 9, "note"))
        for _, start, offered, answered, *_ in qrows:
            for value, kind, offset in ((int(offered or 0), "offered", 0.08),
                                        (int(answered or 0), "answered", 0.48)):
                if value > 0:
                    x, w = axis.bar(start, 0.4, offset)
                    h = value / top_value * (panel - 12)
                    body.append(_rect(x, bottom - h, w, h, COLORS[kind], f"bar {kind}",
                                      f"{name} {axis.label(_t(start))}: {value} {kind}"))
    return _svg(height, body, "Offered vs answered per local hour per queue")


def service_level_svg(rows: Sequence[Sequence[Any]], zone: str,
                      target: float = SERVICE_LEVEL_TARGET) -> str:
    """A bar per local hour: the share of the stays answered or abandoned that were answered
    within the threshold, green at or above ``target`` (dashed line), amber below.
    ``rows``: (hour start, answered or abandoned, answered within the threshold)."""
    rows = [r for r in rows if int(r[1] or 0) > 0]
    axis = TimeAxis.of_hours((r[0] for r in rows), zone)
    if axis is None:
        return _empty("No calls answered or abandoned at a queue in the Info Mart.")
    top, plot_h = 30, 220
    bottom = top + plot_h
    body = [_legend([(f"at or above {target:.0%}", COLORS["sl_ok"]),
                     (f"below {target:.0%}", COLORS["sl_low"])], 8)]
    body += axis.ticks(top, bottom)
    for pct in (0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - pct * plot_h
        body.append(_line(LEFT, y, WIDTH - RIGHT, y, COLORS["grid"]))
        body.append(_text(LEFT - 8, y + 4, f"{pct:.0%}", "end", 10, "tick"))
    for start, ended, within in rows:
        share = int(within or 0) / int(ended)
        x, w = axis.bar(start, 0.8, 0.1)
        body.append(_rect(x, bottom - share * plot_h, w, share * plot_h,
                          COLORS["sl_ok" if share >= target else "sl_low"], "bar sl",
                          f"{axis.label(_t(start))}: {share:.0%} ({within} of {ended} "
                          "within the threshold)"))
    y = bottom - target * plot_h
    body.append(_line(LEFT, y, WIDTH - RIGHT, y, COLORS["axis"], "6 4"))
    body.append(_line(LEFT, bottom, WIDTH - RIGHT, bottom, COLORS["axis"]))
    body.append(_text(30, top + plot_h / 2, "service level", "start", 12, "series"))
    return _svg(bottom + 24, body, "Service level per local hour")


def agent_timeline_svg(rows: Sequence[Sequence[Any]], zone: str,
                       now: datetime | None = None) -> str:
    """One row per agent, a rectangle per state interval. ``rows``: (agent name, state name,
    start, end); an open interval (end None) is drawn up to the latest time seen, or ``now``."""
    if not rows:
        return _empty("No agent states in the Info Mart.")
    starts = [_t(r[2]) for r in rows]
    ends = [_t(r[3]) for r in rows if r[3] is not None]
    open_end = _t(now) if now is not None else max(starts + ends)
    axis = TimeAxis(min(starts), max(ends + [open_end]), zone)
    agents: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        agents.setdefault(str(row[0] if row[0] is not None else "(unnamed)"), []).append(row)
    row_h, gap, top = 18, 6, 30
    bottom = top + len(agents) * (row_h + gap)
    body = [_legend([(s, COLORS[s]) for s in STATES], 8)]
    body += axis.ticks(top, bottom)
    for i, (name, arows) in enumerate(agents.items()):
        y = top + i * (row_h + gap)
        body.append(_text(LEFT - 8, y + row_h - 5, name, "end", 11, "series"))
        for _, state, s, e in arows:
            t0, t1 = _t(s), (_t(e) if e is not None else open_end)
            state = str(state)
            cls = state.lower().replace("_", "-") if state in STATES else "other"
            body.append(_rect(axis.x(t0), y, axis.x(t1) - axis.x(t0), row_h,
                              COLORS.get(state, COLORS["other"]), f"state {cls}",
                              f"{name}: {state} {axis.label(t0)}-{axis.label(t1)}"))
    body.append(_line(LEFT, bottom, WIDTH - RIGHT, bottom, COLORS["axis"]))
    return _svg(bottom + 24, body, "Agent state timeline")


def _legend(items: Sequence[tuple[str, str]], y: float) -> str:
    out, x = [], LEFT
    for label, color in items:
        out.append(f'<rect class="legend" x="{_f(x)}" y="{_f(y)}" width="12" height="12" '
                   f'fill="{color}"/>')
        out.append(_text(x + 17, y + 10, label, "start", 11, "legend-label"))
        x += 30 + 7 * len(label)
    return "".join(out)


# ----------------------------------------------------------------------------- tables

def table_html(caption: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
               formats: Sequence[summary.Format] | None = None) -> str:
    """An HTML table; cells after the first are right-aligned numbers."""
    formats = formats or [summary.plain] * len(headers)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(fmt(v))}</td>"
                                    for fmt, v in zip(formats, row, strict=True))
                   + "</tr>" for row in rows)
    return (f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def summary_tables(by_status: Iterable[Sequence[Any]], queue_hours: Iterable[Sequence[Any]],
                   agent_hours: Iterable[Sequence[Any]], zone: str) -> str:
    """The tables of the ``make demo`` summary, from the rows of its three queries."""
    queues = summary.queue_grid(queue_hours, zone)
    agents = summary.agent_grid(agent_hours, zone)
    return "".join([
        table_html("Interactions by media and status", ("media", "status", "interactions"),
                   by_status),
        table_html("Queues per local hour", queues[0], queues[1:]),
        table_html("Agents: calls handled per local hour", agents[0], agents[1:]),
    ])


def consultations_table(per_agent: Iterable[Sequence[Any]]) -> str:
    """Each agent's consultations, from the rows of ``report_queries.CONSULTATIONS_SQL``."""
    return table_html("Consultations", ("agent", "consultations initiated",
                                        "consultations received",
                                        "customers received by consult transfer",
                                        "conferences joined", "consult talk (s)"), per_agent)


def segment_table(by_segment: Iterable[Sequence[Any]] | None) -> str:
    """Handle time by customer segment, from ``report_queries.by_segment``: None says the
    Info Mart keeps no segment."""
    if by_segment is None:
        return _empty(f"Handle time by customer segment: the Info Mart keeps no customer "
                      f"segment (irf_user_data has no {report_queries.SEGMENT_COLUMN} column: "
                      "no cfg_user_data_key maps a user-data key to it).")
    return table_html("Handle time by customer segment",
                      ("customer segment", "customer calls handled", "AHT (s)"), by_segment,
                      (lambda v: "(none)" if v is None else str(v), summary.plain, summary.num))


# ------------------------------------------------------------------------------- page

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
p.meta, p.empty { color: #666; font-size: 13px; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: inherit; fill: #333; }
table { border-collapse: collapse; margin: 12px 24px 12px 0; display: inline-table;
        vertical-align: top; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; }
th { background: #f4f6f8; } td + td { text-align: right; }
"""


def page(title: str, generated: datetime, zone: str, sections: Sequence[tuple[str, str]],
         tables: str) -> str:
    """The whole document. ``sections``: (heading, SVG or HTML) pairs, trusted markup."""
    parts = [f"<section><h2>{escape(h)}</h2>{content}</section>" for h, content in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"meta\">Generated "
            f"{escape(generated.strftime('%Y-%m-%d %H:%M UTC'))} from the Info Mart; times are "
            f"local time of {escape(zone)}; queue and agent figures per local hour, from the "
            "aggregate tables.</p>" + "".join(parts)
            + f"<section><h2>Summary</h2>{tables}</section></body></html>\n")


def render(queue_hours: Sequence[Sequence[Any]], service_level: Sequence[Sequence[Any]],
           agent_states: Sequence[Sequence[Any]], tables: str, zone: str, generated: datetime,
           title: str = "Contact center day") -> str:
    return page(title, generated, zone, [
        ("Offered vs answered per local hour, per queue", offered_answered_svg(queue_hours, zone)),
        ("Service level: answered within the threshold / (answered + abandoned)",
         service_level_svg(service_level, zone)),
        ("Agent states", agent_timeline_svg(agent_states, zone)),
    ], tables)


def build(url: str, zone: str, generated: datetime | None = None) -> str:
    """Runs the queries on the Info Mart at ``url`` and renders the report, hours in the
    local time of ``zone`` (an IANA name: the tenant's ``GIM_TIMEZONE``)."""
    queue_hours = summary.query(url, summary.QUEUE_HOURS)
    tables = (summary_tables(summary.query(url, summary.BY_MEDIA_AND_STATUS), queue_hours,
                             summary.query(url, summary.AGENT_HOURS), zone)
              + consultations_table(summary.query(url, report_queries.CONSULTATIONS_SQL))
              + segment_table(report_queries.by_segment(url)))
    return render(queue_hours, summary.query(url, report_queries.SERVICE_LEVEL_SQL),
                  summary.query(url, report_queries.AGENT_STATES_SQL), tables, zone,
                  generated or datetime.now(timezone.utc))
