"""``gim-faust report --html FILE``: a static, self-contained HTML report of the Info Mart.

The page has no scripts, no style sheets or fonts from elsewhere and makes no network request:
its charts are inline SVG drawn here, in Python. SQL (the ``*_SQL`` constants, run by
:func:`build`) and rendering (the pure functions, which take rows and return SVG or HTML
strings) are kept apart so the drawing can be tested on hand-made rows.

Charts (times are UTC, in 15-minute intervals keyed by ``start_date_time_key``):

- offered vs answered per queue: offered are mediation segments at a queue resource
  (:data:`summary.QUEUES`), answered those with ``accepted_flag = 1``;
- service level over the day: accepted within 20 s of queueing as a share of offered, all
  queues together;
- agent state timeline: one row per agent, its ``sm_res_state_fact`` intervals coloured by
  state (READY, NOT_READY, AFTER_CALL_WORK).

The text tables of ``loaders/summary.py`` (the ``make demo`` summary) follow the charts, then
each agent's share of consultations (contract ``consultations.md``), from the parties'
``resource_role``: consultations initiated (``INITIATED_CONSULT``) and received
(``RECEIVED_CONSULT``), customers received by a consult transfer (``RECEIVED_TRANSFER``),
conferences joined (``CONFERENCE_JOINED``), and consult talk time: the ``talk_duration`` of
the agent's parties on consultations (both roles).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from html import escape
from typing import Any

from gim_faust.loaders import summary

SLOT = 900  # seconds in a date_time interval
SERVICE_LEVEL_SECONDS = 20
SERVICE_LEVEL_TARGET = 0.8

OFFERED_ANSWERED_SQL = f"""
SELECT r.resource_name, s.start_date_time_key, count(*) AS offered,
       sum(s.accepted_flag) AS answered
FROM mediation_segment_fact s JOIN resource_ r USING (resource_key)
WHERE r.resource_type IN {summary.QUEUES}
GROUP BY 1, 2 ORDER BY 1, 2"""

SERVICE_LEVEL_SQL = f"""
SELECT s.start_date_time_key, count(*) AS offered,
       count(*) FILTER (WHERE s.accepted_flag = 1
                        AND s.mediation_duration <= {SERVICE_LEVEL_SECONDS}) AS within
FROM mediation_segment_fact s JOIN resource_ r USING (resource_key)
WHERE r.resource_type IN {summary.QUEUES}
GROUP BY 1 ORDER BY 1"""

AGENT_STATES_SQL = """
SELECT r.resource_name, st.state_name, f.start_ts, f.end_ts
FROM sm_res_state_fact f
JOIN resource_state st USING (resource_state_key)
JOIN resource_ r USING (resource_key)
WHERE r.resource_type IN ('Agent', 'UnknownAgentLogin')
ORDER BY 1, 3"""

CONSULTATIONS_SQL = """
SELECT r.resource_name,
       count(*) FILTER (WHERE f.resource_role = 'INITIATED_CONSULT') AS initiated,
       count(*) FILTER (WHERE f.resource_role = 'RECEIVED_CONSULT') AS received,
       count(*) FILTER (WHERE f.resource_role = 'RECEIVED_TRANSFER') AS transfers_received,
       count(*) FILTER (WHERE f.resource_role = 'CONFERENCE_JOINED') AS conferences_joined,
       coalesce(sum(f.talk_duration) FILTER (
           WHERE f.resource_role IN ('INITIATED_CONSULT', 'RECEIVED_CONSULT')), 0)
           AS consult_talk_s
FROM interaction_resource_fact f JOIN resource_ r USING (resource_key)
WHERE r.resource_type = 'Agent'
GROUP BY r.resource_key, r.resource_name ORDER BY r.resource_name, r.resource_key"""

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


def _hhmm(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%H:%M")


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
    """Maps times (unix seconds) in ``[start, end)`` to x on the plot."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = max(end, start + SLOT)

    @classmethod
    def hours(cls, start: float, end: float) -> TimeAxis:
        """The whole hours around ``[start, end)``."""
        return cls((int(start) // 3600) * 3600, -(-int(end) // 3600) * 3600)

    @classmethod
    def of_slots(cls, keys: Iterable[Any]) -> TimeAxis | None:
        keys = [_t(k) for k in keys]
        if not keys:
            return None
        return cls.hours(min(keys), max(keys) + SLOT)

    def x(self, t: float) -> float:
        return LEFT + (t - self.start) / (self.end - self.start) * PLOT

    def slots(self) -> int:
        return max(1, round((self.end - self.start) / SLOT))

    def ticks(self, top: float, bottom: float) -> list[str]:
        """Hourly grid lines with their labels below ``bottom``."""
        out = []
        hour = (int(self.start) // 3600) * 3600
        while hour <= self.end:
            if hour >= self.start:
                x = self.x(hour)
                out.append(_line(x, top, x, bottom, COLORS["grid"]))
                out.append(_text(x, bottom + 14, _hhmm(hour), "middle", 10, "tick"))
            hour += 3600
        return out


def _empty(message: str) -> str:
    return f'<p class="empty">{escape(message)}</p>'


# ----------------------------------------------------------------------------- charts

def offered_answered_svg(rows: Sequence[tuple[Any, ...]]) -> str:
    """One small chart per queue, all on the same time axis and scale: per 15-minute interval
    an offered bar and an answered bar. ``rows``: (queue name, date_time key, offered,
    answered)."""
    axis = TimeAxis.of_slots(r[1] for r in rows)
    if axis is None:
        return _empty("No queue activity in the Info Mart.")
    queues: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        queues.setdefault(str(row[0] if row[0] is not None else "(unnamed)"), []).append(row)
    top_value = max(int(r[2] or 0) for r in rows) or 1
    panel, gap, head = 90, 34, 28
    height = head + len(queues) * (panel + gap) + 10
    slot_w = PLOT / axis.slots()
    bar_w = max(slot_w * 0.4, 0.5)
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
        for _, key, offered, answered in qrows:
            x = axis.x(_t(key))
            when = f"{_hhmm(_t(key))}-{_hhmm(_t(key) + SLOT)}"
            for value, kind, dx in ((int(offered or 0), "offered", slot_w * 0.08),
                                    (int(answered or 0), "answered", slot_w * 0.08 + bar_w)):
                if value > 0:
                    h = value / top_value * (panel - 12)
                    body.append(_rect(x + dx, bottom - h, bar_w, h, COLORS[kind], f"bar {kind}",
                                      f"{name} {when}: {value} {kind}"))
    return _svg(height, body, "Offered vs answered per 15 minutes per queue")


def service_level_svg(rows: Sequence[tuple[Any, ...]],
                      target: float = SERVICE_LEVEL_TARGET) -> str:
    """A bar per 15-minute interval: the share of offered accepted within 20 s, green at or
    above ``target`` (dashed line), amber below. ``rows``: (date_time key, offered, within)."""
    rows = [r for r in rows if int(r[1] or 0) > 0]
    axis = TimeAxis.of_slots(r[0] for r in rows)
    if axis is None:
        return _empty("No calls offered to a queue in the Info Mart.")
    top, plot_h = 30, 220
    bottom = top + plot_h
    slot_w = PLOT / axis.slots()
    body = [_legend([(f"at or above {target:.0%}", COLORS["sl_ok"]),
                     (f"below {target:.0%}", COLORS["sl_low"])], 8)]
    body += axis.ticks(top, bottom)
    for pct in (0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - pct * plot_h
        body.append(_line(LEFT, y, WIDTH - RIGHT, y, COLORS["grid"]))
        body.append(_text(LEFT - 8, y + 4, f"{pct:.0%}", "end", 10, "tick"))
    for key, offered, within in rows:
        share = int(within or 0) / int(offered)
        h = share * plot_h
        ok = share >= target
        body.append(_rect(axis.x(_t(key)) + slot_w * 0.1, bottom - h, slot_w * 0.8, h,
                          COLORS["sl_ok" if ok else "sl_low"], "bar sl",
                          f"{_hhmm(_t(key))}: {share:.0%} ({within} of {offered} within "
                          f"{SERVICE_LEVEL_SECONDS} s)"))
    y = bottom - target * plot_h
    body.append(_line(LEFT, y, WIDTH - RIGHT, y, COLORS["axis"], "6 4"))
    body.append(_line(LEFT, bottom, WIDTH - RIGHT, bottom, COLORS["axis"]))
    body.append(_text(30, top + plot_h / 2, "service level", "start", 12, "series"))
    return _svg(bottom + 24, body, f"Service level ({SERVICE_LEVEL_SECONDS} s) per 15 minutes")


def agent_timeline_svg(rows: Sequence[tuple[Any, ...]], now: datetime | None = None) -> str:
    """One row per agent, a rectangle per state interval. ``rows``: (agent name, state name,
    start, end); an open interval (end None) is drawn up to the latest time seen, or ``now``."""
    if not rows:
        return _empty("No agent states in the Info Mart.")
    starts = [_t(r[2]) for r in rows]
    ends = [_t(r[3]) for r in rows if r[3] is not None]
    open_end = _t(now) if now is not None else max(starts + ends)
    axis = TimeAxis.hours(min(starts), max(ends + [open_end]))
    agents: dict[str, list[tuple[Any, ...]]] = {}
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
                              f"{name}: {state} {_hhmm(t0)}-{_hhmm(t1)}"))
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

Format = Callable[[Any], str]


def _plain(value: Any) -> str:
    return "-" if value is None else str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0%}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def table_html(caption: str, headers: Sequence[str], rows: Iterable[Sequence[Any]],
               formats: Sequence[Format] | None = None) -> str:
    """An HTML table; cells after the first are right-aligned numbers."""
    formats = formats or [_plain] * len(headers)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(fmt(v))}</td>"
                                    for fmt, v in zip(formats, row, strict=True))
                   + "</tr>" for row in rows)
    return (f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def summary_tables(by_status: Iterable[Sequence[Any]], per_queue: Iterable[Sequence[Any]],
                   per_agent: Iterable[Sequence[Any]]) -> str:
    """The tables of ``loaders/summary.py``, from the rows of its three queries."""
    return "".join([
        table_html("Interactions by media and status", ("media", "status", "interactions"),
                   by_status),
        table_html("Queues", ("queue", "offered", "accepted", "abandoned", "ASA (s)",
                              f"service level ({SERVICE_LEVEL_SECONDS} s)"), per_queue,
                   (_plain, _plain, _plain, _plain, _num, _pct)),
        table_html("Agents", ("agent", "handled", "AHT (s)", "occupancy"), per_agent,
                   (_plain, _plain, _num, _pct)),
    ])


def consultations_table(per_agent: Iterable[Sequence[Any]]) -> str:
    """Each agent's consultations, from the rows of :data:`CONSULTATIONS_SQL`."""
    return table_html("Consultations", ("agent", "consultations initiated",
                                        "consultations received",
                                        "customers received by consult transfer",
                                        "conferences joined", "consult talk (s)"), per_agent)


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


def page(title: str, generated: datetime, sections: Sequence[tuple[str, str]],
         tables: str) -> str:
    """The whole document. ``sections``: (heading, SVG or HTML) pairs, trusted markup."""
    parts = [f"<section><h2>{escape(h)}</h2>{content}</section>" for h, content in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"meta\">Generated "
            f"{escape(generated.strftime('%Y-%m-%d %H:%M UTC'))} from the Info Mart; times are "
            "UTC, in 15-minute intervals.</p>" + "".join(parts)
            + f"<section><h2>Summary</h2>{tables}</section></body></html>\n")


def render(offered_answered: Sequence[tuple[Any, ...]], service_level: Sequence[tuple[Any, ...]],
           agent_states: Sequence[tuple[Any, ...]], tables: str, generated: datetime,
           title: str = "Contact center day") -> str:
    return page(title, generated, [
        ("Offered vs answered per 15 minutes, per queue", offered_answered_svg(offered_answered)),
        (f"Service level: answered within {SERVICE_LEVEL_SECONDS} s of queueing / offered",
         service_level_svg(service_level)),
        ("Agent states", agent_timeline_svg(agent_states)),
    ], tables)


def build(url: str, generated: datetime | None = None) -> str:
    """Runs the queries on the Info Mart at ``url`` and renders the report."""
    tables = summary_tables(summary.query(url, summary.BY_MEDIA_AND_STATUS),
                            summary.query(url, summary.PER_QUEUE),
                            summary.query(url, summary.PER_AGENT))
    tables += consultations_table(summary.query(url, CONSULTATIONS_SQL))
    return render(summary.query(url, OFFERED_ANSWERED_SQL), summary.query(url, SERVICE_LEVEL_SQL),
                  summary.query(url, AGENT_STATES_SQL), tables,
                  generated or datetime.now(timezone.utc))
