"""Hand-written event sequences for the rule tests of the transforms.

A test builds each key's events with a small fluent builder, in the contract's vocabulary
(``events.md``), with times in seconds after 2026-11-02T09:00:00Z::

    call = (Call("c-1").queued(0, "8100").diverted(27.5, "8100", "7001")
            .ringing(27.5, "7001", "5001").established(30, "7001", "5001")
            .released(90, "7001", "5001").ended(90))
    agent = Agent("5001").login(-60).ready(-50).acw(90.2).ready(130.2)
    runner = run(config(), call, agent)

Each builder numbers its events (``seq`` 1, 2, ...) and turns them into raw JSON bytes on the
right topic; :func:`run` feeds them through the in-memory :class:`Runner` stream after stream
(or in any order the test gives, see :func:`feed`). Rows are then read with :func:`row` and
:func:`rows`, and expected keys come from :func:`person`, :func:`dn`, :func:`unknown_login`
and :func:`unknown_dn`.

Row ids follow the transforms: a segment or party is ``"<interaction>:<seq that opened it>"``,
an agent session or state ``"<login>:<media>:<seq that opened it>"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import orjson
from gim_faust.loaders import records
from gim_faust.transforms.codes import TECHNICAL_RESULT
from gim_faust.transforms.config_view import ConfigView
from gim_faust.transforms.keys import (
    UNKNOWN_AGENT_LOGIN,
    UNKNOWN_DN,
    dn_key,
    person_key,
    placeholder_key,
)
from gim_faust.transforms.runner import Runner

from gim_faust.models.events import from_ms, to_ms
from gim_faust.models.facts import Fact, to_record

TENANT = "acme"
BASE_MS = to_ms(datetime(2026, 11, 2, 9, 0, 0, tzinfo=timezone.utc))
TIMEOUT_S = 3600

# The configuration of every test unless it builds its own: number -> (dbid, type) and
# login code -> person dbid.
DNS = {
    "8000": (1, "RoutingPoint"),
    "8100": (2, "ACDQueue"),
    "8200": (3, "VirtualQueue"),
    "8300": (4, "InteractionQueue"),
    "7001": (11, "Extension"),
    "7002": (12, "Extension"),
    "7009": (19, "Extension"),
}
LOGINS = {"5001": 101, "5002": 102, "6001": 201}
REASONS = ("Break", "Lunch")


# --- time -------------------------------------------------------------------------------------

def ms(t: float) -> int:
    """Unix milliseconds of ``t`` seconds after the base time (exact to the millisecond)."""
    return BASE_MS + round(t * 1000)


def at(t: float) -> datetime:
    """The fact timestamp of ``t`` seconds after the base time."""
    return from_ms(ms(t))


def stamp(t: float) -> str:
    """The event ``ts`` of ``t`` seconds after the base time: RFC 3339, UTC, milliseconds."""
    return at(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- configuration and keys -------------------------------------------------------------------

def config(dns: dict[str, tuple[int, str]] | None = None, logins: dict[str, int] | None = None,
           reasons: Iterable[str] = REASONS) -> ConfigView:
    """A ConfigView fed the way the Config Adapter publishes objects."""
    view = ConfigView()
    for number, (dbid, kind) in (DNS if dns is None else dns).items():
        view.apply("dn", dbid, {"number": number, "type": kind, "switch_dbid": 1})
    for i, (code, person) in enumerate((LOGINS if logins is None else logins).items()):
        view.apply("agent_login", 1000 + i, {"login_code": code, "person_dbid": person,
                                             "switch_dbid": 1})
    for i, name in enumerate(reasons):
        view.apply("enum_value", 500 + i, {"enum": "NotReadyReason", "name": name,
                                           "display_name": name.title()})
    return view


def person(login: str) -> int:
    """resource_key of the person behind a configured login code."""
    return person_key(LOGINS[login])


def dn(number: str) -> int:
    """resource_key of a configured DN."""
    return dn_key(DNS[number][0])


def unknown_login(code: str) -> int:
    """resource_key of the placeholder for a login code configuration does not know."""
    return placeholder_key(UNKNOWN_AGENT_LOGIN, code)


def unknown_dn(number: str) -> int:
    """resource_key of the placeholder for a DN number configuration does not know."""
    return placeholder_key(UNKNOWN_DN, number)


def result(name: str) -> int:
    """technical_descriptor_key of a result."""
    return TECHNICAL_RESULT[name]


# --- builders ---------------------------------------------------------------------------------

class _Stream:
    """Events of one key on one topic, numbered in the order they are built."""

    family = ""

    def __init__(self, key_field: str, key: str, media: str, first_seq: int = 1) -> None:
        self.key_field, self.key, self.media = key_field, key, media
        self.events: list[dict[str, Any]] = []
        self.first_seq = first_seq
        self.seq = first_seq - 1

    @property
    def topic(self) -> str:
        channel = "voice" if self.media == "voice" else "digital"
        return f"{TENANT}.{channel}.{self.family}"

    def event(self, kind: str, t: float, **fields: Any) -> Any:
        """Append one event; fields that are None are left out."""
        self.seq += 1
        event = {"event_id": f"{self.key}-{self.media}-{self.seq}", "type": kind,
                 "ts": stamp(t), "tenant": TENANT, "media": self.media, "seq": self.seq,
                 self.key_field: self.key}
        event.update({k: v for k, v in fields.items() if v is not None})
        self.events.append(event)
        return self

    def messages(self) -> list[tuple[str, bytes]]:
        return [(self.topic, orjson.dumps(event)) for event in self.events]

    def message(self, seq: int) -> tuple[str, bytes]:
        """The raw message of the event numbered ``seq`` (to deliver it again)."""
        return self.topic, orjson.dumps(self.events[seq - self.first_seq])

    def id(self, seq: int) -> str:
        return f"{self.key}:{seq}"


class Call(_Stream):
    """The events of one interaction. ``direction``, ``from`` and ``to`` go on its first event."""

    family = "interactions"

    def __init__(self, interaction_id: str, media: str = "voice",
                 direction: str | None = "inbound", source: str | None = "+15550100",
                 target: str | None = None, first_seq: int = 1,
                 consult_of: str | None = None) -> None:
        super().__init__("interaction_id", interaction_id, media, first_seq)
        self.first = {"direction": direction, "from": source, "to": target,
                      "consult_of": consult_of}

    def event(self, kind: str, t: float, **fields: Any) -> Call:
        if not self.events:
            fields = {**self.first, **fields}
        return super().event(kind, t, **fields)

    def queued(self, t: float, dn: str) -> Call:
        return self.event("EventQueued", t, dn=dn)

    def diverted(self, t: float, dn: str, target: str) -> Call:
        return self.event("EventDiverted", t, dn=dn, target=target)

    def ringing(self, t: float, dn: str | None = None, login: str | None = None) -> Call:
        return self.event("EventRinging", t, dn=dn, agent_login=login)

    def dialing(self, t: float, dn: str | None = None, login: str | None = None) -> Call:
        return self.event("EventDialing", t, dn=dn, agent_login=login)

    def established(self, t: float, dn: str | None = None, login: str | None = None) -> Call:
        return self.event("EventEstablished", t, dn=dn, agent_login=login)

    def held(self, t: float, dn: str | None = None, login: str | None = None) -> Call:
        return self.event("EventHeld", t, dn=dn, agent_login=login)

    def retrieved(self, t: float, dn: str | None = None, login: str | None = None) -> Call:
        return self.event("EventRetrieved", t, dn=dn, agent_login=login)

    def released(self, t: float, dn: str | None = None, login: str | None = None,
                 cause: str | None = None) -> Call:
        return self.event("EventReleased", t, dn=dn, agent_login=login, cause=cause)

    def abandoned(self, t: float, dn: str | None = None, login: str | None = None) -> Call:
        return self.event("EventAbandoned", t, dn=dn, agent_login=login)

    def ended(self, t: float) -> Call:
        return self.event("EventInteractionEnded", t)

    def party_changed(self, t: float, dn: str, login: str | None, consultation: str) -> Call:
        """A consult transfer brought ``dn``/``login`` in from ``consultation``."""
        return self.event("EventPartyChanged", t, dn=dn, agent_login=login,
                          from_interaction_id=consultation)

    def party_added(self, t: float, dn: str, login: str | None, consultation: str) -> Call:
        """A conference brought ``dn``/``login`` in from ``consultation``."""
        return self.event("EventPartyAdded", t, dn=dn, agent_login=login,
                          from_interaction_id=consultation)


class Agent(_Stream):
    """The events of one agent login on one media."""

    family = "agents"

    def __init__(self, login: str, media: str = "voice", dn: str | None = None,
                 first_seq: int = 1) -> None:
        super().__init__("agent_login", login, media, first_seq)
        self.dn = dn

    def event(self, kind: str, t: float, **fields: Any) -> Agent:
        return super().event(kind, t, dn=self.dn, **fields)

    def login(self, t: float) -> Agent:
        return self.event("EventAgentLogin", t)

    def ready(self, t: float) -> Agent:
        return self.event("EventAgentReady", t)

    def not_ready(self, t: float, reason: str | None = None) -> Agent:
        return self.event("EventAgentNotReady", t, reason=reason)

    def acw(self, t: float) -> Agent:
        """AFTER_CALL_WORK: ``EventAgentNotReady`` with workmode ``AfterCallWork``."""
        return self.event("EventAgentNotReady", t, workmode="AfterCallWork")

    def logout(self, t: float) -> Agent:
        return self.event("EventAgentLogout", t)

    def id(self, seq: int) -> str:
        return f"{self.key}:{self.media}:{seq}"


# --- running ----------------------------------------------------------------------------------

Feedable = _Stream | tuple[str, bytes] | Iterable[tuple[str, bytes]]


def messages(*items: Feedable) -> list[tuple[str, bytes]]:
    """Builders (all their events), single ``(topic, bytes)`` messages or lists of them,
    flattened in the order given."""
    out: list[tuple[str, bytes]] = []
    for item in items:
        if isinstance(item, _Stream):
            out.extend(item.messages())
        elif isinstance(item, tuple):
            out.append(item)
        else:
            out.extend(item)
    return out


def by_time(*streams: _Stream) -> list[tuple[str, bytes]]:
    """The streams merged by event time, each stream's own order kept (ties: argument order)."""
    tagged = [(event["ts"], i, n, stream.topic, event) for i, stream in enumerate(streams)
              for n, event in enumerate(stream.events)]
    return [(topic, orjson.dumps(event)) for _, _, _, topic, event in sorted(tagged)]


def feed(runner: Runner, *items: Feedable) -> Runner:
    for topic, value in messages(*items):
        runner.feed(topic, value)
    return runner


def run(view: ConfigView | None, *items: Feedable, timeout_s: int = TIMEOUT_S,
        finish: bool = True) -> Runner:
    """A Runner fed the items in order, then (``finish``) swept as the GSP would."""
    runner = feed(Runner(view if view is not None else config(), TENANT, timeout_s), *items)
    if finish:
        runner.finish()
    return runner


def rows(runner: Runner, table: str) -> dict[str, Fact]:
    """The newest version of every row of ``table``, by id."""
    return {key: fact for (name, key), fact in sorted(runner.rows.items()) if name == table}


def row(runner: Runner, table: str, row_id: str) -> Any:
    found = runner.rows.get((table, row_id))
    assert found is not None, f"no {table} row {row_id!r}; have {sorted(rows(runner, table))}"
    return found


def unversioned(runner: Runner) -> dict[tuple[str, str], Fact]:
    """Every row with its version zeroed: what must not depend on arrival order."""
    return {key: replace(fact, version=0) for key, fact in runner.rows.items()}


def segment(runner: Runner, row_id: str) -> Any:
    return row(runner, "mediation_segment_fact", row_id)


def party(runner: Runner, row_id: str) -> Any:
    return row(runner, "interaction_resource_fact", row_id)


def interaction_row(runner: Runner, interaction_id: str) -> Any:
    return row(runner, "interaction_fact", interaction_id)


def state(runner: Runner, row_id: str) -> Any:
    return row(runner, "sm_res_state_fact", row_id)


def session(runner: Runner, row_id: str) -> Any:
    return row(runner, "sm_res_session_fact", row_id)


def expect(fact: Any, **columns: Any) -> None:
    """Assert the named columns of a row, reporting every difference at once."""
    wrong = {name: (getattr(fact, name), value) for name, value in columns.items()
             if getattr(fact, name) != value}
    assert not wrong, f"{fact.table} {fact.id}: " + ", ".join(
        f"{name} = {have!r}, expected {want!r}" for name, (have, want) in wrong.items())


def as_loaded(fact: Fact) -> Fact:
    """The fact as the loader reads it off the fact topic (strictly: BadInputError if the
    record could not go into the Info Mart)."""
    return records.decode(orjson.dumps(to_record(fact)))


def columns(fact: Any) -> dict[str, Any]:
    """Every column of a row but its version."""
    record = to_record(fact)
    del record["table"], record["version"]
    return record
