"""Bad input, end to end (issue 21): random bytes and randomly mutated scenario events go
through the decoder, the per-event driving the GSP runs and the loader's reading of facts.

What must hold whatever arrives (contract ``events.md``, "Bad input"): every message is
applied or rejected with a contract reason, nothing raises, and nothing is lost downstream.
A fact version the loader refuses, or the Info Mart refuses to store, is lost as surely as one
never emitted; so every version an applied event produces must come back equal from the fact
topic (``to_record``, JSON, the loader's strict ``from_record``), become the loader's row,
and fit its columns (the CHECK constraints and integer widths of ``loaders/migrations/``).

The driving is the in-memory :class:`Runner`, which runs exactly the GSP's per-event path with
dicts for state. It decodes again, without the worker's clock; what that clock rejects (an
event further ahead than ``GIM_MAX_CLOCK_SKEW``) is not given to it, as the GSP would not.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import cache
from typing import Any

import orjson
from gim_faust.loaders import records, user_data_rows
from gim_faust.transforms.keys import date_time_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gim_faust.models.codec import Rejection, Source, decode
from gim_faust.models.events import AGENT_TYPES, INTERACTION_TYPES, from_ms, to_ms
from gim_faust.models.facts import Fact
from tests.support import scenario as sc
from tests.support.decoding import assert_event_or_reason
from tests.unit.transforms.event_builders import as_loaded

SCENARIOS = ("day", "dst")
TENANT = "acme"
SKEW_MS = 300_000  # GIM_MAX_CLOCK_SKEW's default
# The latest worker's clock the properties run with. Durations are integer seconds (contract
# infomart.md) and the earliest ts accepted is 2000-01-01: on a clock after 2068-01-19 an
# agent session or state open since then would not fit (the contract's limit, not a bug).
LATEST_CLOCK = datetime(2068, 1, 1, tzinfo=timezone.utc)
INT4_MAX = 2**31 - 1
# The CHECK constraints of loaders/migrations/0001_initial.sql.
STATUSES = {"ACTIVE", "COMPLETED", "TIMED_OUT"}
RESOURCE_TYPES = {"Agent", "Extension", "ACDQueue", "RoutingPoint", "VirtualQueue",
                  "InteractionQueue", "UnknownAgentLogin", "UnknownDN"}


@cache
def stream(name: str) -> list[sc.Message]:
    """The scenario's messages merged by event time, as a GSP would mostly see them."""
    return sc.interleaved(name)


@cache
def view(name: str) -> Any:
    return sc.config_view(name)


@cache
def timeout_s(name: str) -> int:
    return int(sc.expected(name)["meta"]["interaction_timeout_s"])


def ts_ms(event: dict[str, Any]) -> int:
    return to_ms(datetime.fromisoformat(event["ts"]))


def stamp(ms: int) -> str:
    return from_ms(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def topic(suffix: str) -> str:
    return f"{TENANT}.{suffix}"


# --- 1. any bytes ------------------------------------------------------------------------------

def _splice(line: bytes, at: int, junk: bytes) -> bytes:
    at %= len(line) + 1
    return line[:at] + junk + line[at:]


_ANY_LINE = st.sampled_from(SCENARIOS).flatmap(lambda name: st.sampled_from(stream(name)))
_NOT_UTF8 = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00",
                             b"\\ud800", b"\\u0000"])
RAW = st.one_of(
    st.binary(max_size=512),
    # huge-ish: a chunk repeated up to 64 KiB (more bytes than Hypothesis draws per example)
    st.builds(lambda chunk, times: chunk * times, st.binary(min_size=1, max_size=64),
              st.integers(1, 1024)),
    # a valid event with bytes that are not UTF-8, or escapes that name no character, inside
    st.builds(lambda m, at, junk: _splice(m.value, at, junk), _ANY_LINE, st.integers(0, 10_000),
              _NOT_UTF8),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=RAW, suffix=st.sampled_from(sc.TOPIC_FILES))
def test_any_bytes_decode_to_an_event_or_a_reason(value: bytes, suffix: str) -> None:
    clock_ms = to_ms(datetime(2026, 11, 2, 12, tzinfo=timezone.utc))
    assert_event_or_reason(decode(value, Source.of_topic(topic(suffix)), TENANT, clock_ms))


# --- 2. mutated scenario events through the driving and downstream ------------------------------

FIELDS = ("event_id", "type", "ts", "tenant", "media", "seq", "interaction_id", "agent_login",
          "dn", "direction", "from", "to", "cause", "target", "consult_of",
          "from_interaction_id", "user_data", "reason", "workmode")
_LONG_TEXT = st.builds(lambda text, times: (text * times)[:2000],
                       st.text(min_size=1, max_size=4), st.integers(1, 2000))
_ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.sampled_from([-1, 0, 2**31, 2**63 - 1, 2**63, -(2**63), 2**64 - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=3),
    st.text(max_size=20), _LONG_TEXT,
    st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=5), st.text(max_size=5)),
)
_SPECIAL_TS = ["1970-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z", "2000-01-01T00:00:00Z",
               "2038-01-19T03:14:08.000Z", "2039-06-15T12:00:00.000+14:00",
               "2067-12-31T23:59:59.999Z", "2099-12-31T23:59:59.999Z", "2100-01-01T00:00:00Z",
               "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999-01:00"]
_USER_DATA_KEYS = ("CustomerSegment", "AccountId", "Language", "Disposition", "CSAT", "IVRPath")
_USER_DATA_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64),
                              st.floats(allow_nan=False, allow_infinity=False),
                              st.text(max_size=10), _LONG_TEXT,
                              st.from_regex(r"[+-]?[0-9]{0,25}\.?[0-9]{0,25}", fullmatch=True))


@st.composite
def mutated(draw: Any, obj: dict[str, Any], clock_ms: int, near: list[dict[str, Any]]) -> Any:
    """One mutation of an event object: a field dropped or changed (to a value of another
    type, or to the value another event of the window holds), another type, a ts moved (to
    the limits of the contract, past the worker's clock, or near another event's), another
    tenant or media, another seq, a field nobody knows, or user data of every kind."""
    obj = dict(obj)
    kind = draw(st.sampled_from(["drop", "odd", "borrow", "type", "ts", "ts", "seq", "envelope",
                                 "unknown", "user_data"]))
    if kind == "drop" and obj:
        del obj[draw(st.sampled_from(sorted(obj)))]
    elif kind == "odd":
        obj[draw(st.sampled_from(FIELDS))] = draw(_ODD_VALUES)
    elif kind == "borrow":
        other = draw(st.sampled_from(near))
        name = draw(st.sampled_from(sorted(other)))
        obj[name] = other[name]
    elif kind == "type":
        obj["type"] = draw(st.sampled_from(sorted(INTERACTION_TYPES | AGENT_TYPES))
                           | st.text(max_size=20))
    elif kind == "ts":
        near_ms = ts_ms(draw(st.sampled_from(near))) + draw(st.integers(-86_400_000,
                                                                       86_400_000))
        obj["ts"] = draw(st.sampled_from([*_SPECIAL_TS, stamp(clock_ms), stamp(clock_ms + 1),
                                          stamp(near_ms)]))
    elif kind == "seq":  # repeats, gaps, and the last values below the contract's 2^63
        obj["seq"] = draw(st.integers(0, 2**63 - 1) | st.integers(2**63 - 3, 2**63 - 1)
                          | st.integers(0, 3))
    elif kind == "envelope":
        name = draw(st.sampled_from(["tenant", "media"]))
        obj[name] = draw(st.sampled_from(["acme", "ACME", "other", "voice", "chat", "email",
                                          "fax", ""]))
    elif kind == "unknown":
        obj[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in FIELDS))] = draw(
            _ODD_VALUES)
    else:
        obj["user_data"] = draw(st.dictionaries(
            st.sampled_from(_USER_DATA_KEYS) | st.text(max_size=70), _USER_DATA_VALUES,
            max_size=6))
    return obj


@st.composite
def deliveries(draw: Any) -> tuple[str, int, list[tuple[str, bytes]]]:
    """A scenario, the worker's clock, and a window of its messages in order, some mutated
    (several times, then perhaps cut short), sent to another topic, delivered twice, or
    mixed with junk; then perhaps event time moved on to the worker's clock."""
    name = draw(st.sampled_from(SCENARIOS))
    messages = stream(name)
    last_ms = ts_ms(json.loads(messages[-1].value))
    clock_ms = draw(st.sampled_from([last_ms + SKEW_MS,
                                     to_ms(datetime(2040, 1, 1, tzinfo=timezone.utc)),
                                     to_ms(LATEST_CLOCK)]))
    start = draw(st.integers(0, len(messages) - 1))
    window = messages[start:start + draw(st.integers(1, 120))]
    near = [json.loads(m.value) for m in window]
    out: list[tuple[str, bytes]] = []
    for message, obj in zip(window, near, strict=True):
        suffix, value = message.topic_suffix, message.value
        if draw(st.integers(0, 3)) == 0:  # a quarter of them mutated
            for _ in range(draw(st.integers(1, 3))):
                obj = draw(mutated(obj, clock_ms, near))
            value = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode()
            if draw(st.integers(0, 9)) == 0:
                value = value[:draw(st.integers(0, len(value)))]
            if draw(st.integers(0, 9)) == 0:
                suffix = draw(st.sampled_from(sc.TOPIC_FILES))
        out.append((suffix, value))
        if draw(st.integers(0, 19)) == 0:
            out.append(draw(st.sampled_from(out)))  # a repeat delivery, now or later
        if draw(st.integers(0, 39)) == 0:
            out.append((suffix, draw(st.binary(max_size=40))))
    if draw(st.booleans()):
        out += [late(media, clock_ms) for media in ("voice", "chat")]
    return name, clock_ms, out


def late(media: str, at_ms: int) -> tuple[str, bytes]:
    """An event at the worker's clock on an interaction topic: event time moves on to it, and
    every interaction idle for longer than the timeout by then times out."""
    suffix = f"{'voice' if media == 'voice' else 'digital'}.interactions"
    return suffix, orjson.dumps({
        "event_id": f"late-{media}", "type": "EventAttachedDataChanged", "ts": stamp(at_ms),
        "tenant": TENANT, "media": media, "seq": 1, "interaction_id": f"late-{media}"})


def assert_reaches_the_info_mart(fact: Fact) -> None:
    """The fact comes back equal from the fact topic, as the loader reads it, and its row
    (and irf_user_data row) fits the Info Mart's columns."""
    loaded = as_loaded(fact)
    assert loaded == fact
    row = dict(zip(records.COLUMNS[fact.table], records.row(loaded), strict=True))
    for party in user_data_rows.rows([loaded]):
        row.update({f"user_data.{column}": value for column, value in party.items()})
    for column, value in row.items():
        if column == records.ID_COLUMN[fact.table] or column.endswith("_id") and value is not None:
            assert value, (column, fact)
        if isinstance(value, str):
            assert "\x00" not in value, (column, fact)
        elif isinstance(value, datetime):
            assert value.tzinfo is not None and value.microsecond % 1000 == 0, (column, fact)
        if column.endswith(("_duration", "_count")) and value is not None:
            assert 0 <= value <= INT4_MAX, (column, fact)
        elif column.endswith("_flag"):
            assert value in (0, 1), (column, fact)
    if "start_ts" in row:
        assert row["start_date_time_key"] == date_time_key(to_ms(row["start_ts"])), fact
    assert row.get("status", "ACTIVE") in STATUSES, fact
    assert row.get("resource_type", "Agent") in RESOURCE_TYPES, fact


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(deliveries())
def test_mutated_events_are_applied_or_rejected_and_every_fact_reaches_the_info_mart(
        delivery: tuple[str, int, list[tuple[str, bytes]]]) -> None:
    name, clock_ms, messages = delivery
    runner = sc.RecordingRunner(view(name), TENANT, timeout_s(name))
    for suffix, value in messages:
        decoded = decode(value, Source.of_topic(topic(suffix)), TENANT, clock_ms)
        assert_event_or_reason(decoded)
        if not isinstance(decoded, Rejection):
            runner.feed(topic(suffix), value)
    runner.finish()
    assert not [key for key in runner.counts if key.startswith("rejected:")
                and key != "rejected:bad_user_data"], runner.counts
    for fact in runner.emitted:
        assert_reaches_the_info_mart(fact)

