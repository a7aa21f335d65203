"""The event decoder (contract ``events.md``, "Envelope" and "Bad input").

Three kinds of evidence: every message of the worked scenarios decodes (or is rejected with
exactly the reason the scenario names); property tests show that no input whatsoever makes
:func:`decode` raise; and single, targeted faults in valid events give the reason the contract
assigns to them. The codec checks in a fixed order, so a message with one fault has exactly one
right answer.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gim_faust.models.codec import REASONS, Rejection, Source, decode
from gim_faust.models.events import (
    AGENT_TYPES,
    CAUSES,
    DIRECTIONS,
    INTERACTION_TYPES,
    MEDIA,
    VOICE_ONLY_TYPES,
    WORKMODES,
    AgentEvent,
    InteractionEvent,
    to_ms,
)
from tests.support.decoding import assert_event_or_reason

TENANT = "acme"
SCENARIOS = Path(__file__).resolve().parents[2] / "data" / "scenarios"
TOPICS = ("acme.voice.interactions", "acme.voice.agents", "acme.digital.interactions",
          "acme.digital.agents")
SOURCES = {topic: Source.of_topic(topic) for topic in TOPICS}
ENVELOPE = ("event_id", "type", "ts", "tenant", "media", "seq")
# The fields each decoder reads (and therefore type-checks) besides the envelope.
INTERACTION_FIELDS = ("interaction_id", "dn", "agent_login", "direction", "from", "to", "cause",
                      "target", "consult_of", "from_interaction_id")
# Read too, but an invalid value rejects nothing (contract user-data.md).
USER_DATA = "user_data"
AGENT_FIELDS = ("agent_login", "dn", "reason", "workmode")
PARTY_TYPES = frozenset({"EventRinging", "EventDialing", "EventEstablished", "EventHeld",
                         "EventRetrieved", "EventReleased", "EventAbandoned"})


def _scenario_dirs() -> list[Path]:
    dirs = sorted(p for p in SCENARIOS.iterdir() if p.is_dir())
    assert dirs, f"no scenarios under {SCENARIOS}"
    return dirs


def _valid_messages() -> list[tuple[str, str, bytes]]:
    """(scenario, topic, raw line) of every message on the four raw topics."""
    found = []
    for folder in _scenario_dirs():
        for topic in TOPICS:
            path = folder / f"{topic}.jsonl"
            assert path.exists(), f"{path} is missing"
            found += [(folder.name, topic, line) for line in path.read_bytes().splitlines()
                      if line.strip()]
    return found


def _bad_messages() -> list[tuple[str, dict[str, str]]]:
    found = []
    for folder in _scenario_dirs():
        for line in (folder / "bad-input.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                found.append((folder.name, json.loads(line)))
    return found


VALID = _valid_messages()
BAD = _bad_messages()
# Parsed once: the mutation tests pick from these (topic, object) pairs.
VALID_OBJECTS = [(topic, orjson.loads(raw)) for _, topic, raw in VALID]


def _decode_obj(obj: Any, topic: str) -> InteractionEvent | AgentEvent | Rejection:
    return decode(orjson.dumps(obj), SOURCES[topic], TENANT)


def _reason(result: object) -> str | None:
    return result.reason if isinstance(result, Rejection) else None


# --- the worked scenarios -----------------------------------------------------------------------

def test_scenarios_are_present() -> None:
    assert len(VALID) > 8000
    assert len(BAD) >= 2 * 14


@pytest.mark.parametrize("scenario", [p.name for p in _scenario_dirs()])
def test_every_scenario_event_decodes(scenario: str) -> None:
    count = 0
    for name, topic, raw in VALID:
        if name != scenario:
            continue
        obj = orjson.loads(raw)
        event = decode(raw, SOURCES[topic], TENANT)
        assert not isinstance(event, Rejection), (topic, raw, event)
        kind = AgentEvent if topic.endswith(".agents") else InteractionEvent
        assert isinstance(event, kind)
        assert (event.event_id, event.type, event.seq, event.media, event.tenant) == (
            obj["event_id"], obj["type"], obj["seq"], obj["media"], obj["tenant"])
        # The message key the contract names is what the event reports as its key.
        assert event.key == obj["agent_login" if kind is AgentEvent else "interaction_id"]
        parsed = datetime.fromisoformat(obj["ts"])
        assert event.ts == parsed and event.ts.tzinfo == timezone.utc
        assert event.ts_ms == to_ms(parsed)
        count += 1
    assert count > 0


@pytest.mark.parametrize("case", BAD, ids=[f"{s}-{i}-{c['reason']}" for i, (s, c) in enumerate(BAD)])
def test_every_bad_input_is_rejected_with_its_reason(case: tuple[str, dict[str, str]]) -> None:
    _, bad = case
    result = decode(bad["value"].encode("utf-8"), Source.of_topic(bad["topic"]), TENANT)
    assert isinstance(result, Rejection), result
    assert result.reason == bad["reason"], result


def test_invalid_user_data_is_named_and_the_event_kept() -> None:
    """dst's four events with invalid user_data (expected-user-data.json) decode, without it."""
    meta = orjson.loads((SCENARIOS / "dst" / "expected-user-data.json").read_bytes())["meta"]
    bad = set(meta["bad_user_data_events"])
    flagged = set()
    for _name, topic, raw in VALID:
        event = decode(raw, SOURCES[topic], TENANT)
        if isinstance(event, InteractionEvent) and event.bad_user_data:
            assert event.user_data is None
            flagged.add(event.event_id)
        elif isinstance(event, InteractionEvent) and "user_data" in orjson.loads(raw):
            assert event.user_data == orjson.loads(raw)["user_data"]
    assert flagged == bad


@pytest.mark.parametrize(("user_data", "problem"), [
    ([1], "not an object"),
    ({f"k{i}": i for i in range(101)}, "more than 100"),
    ({"": 1}, "not 1 to 64"),
    ({"k" * 65: 1}, "not 1 to 64"),
    ({"k": "v" * 1025}, "longer than 1024"),
    ({"k": {"nested": 1}}, "a dict"),
    ({"k": [1]}, "a list"),
    ({"k": "a\x00b"}, "U+0000"),
])
def test_user_data_limits(user_data: object, problem: str) -> None:
    raw = orjson.dumps({"event_id": "e", "type": "EventAttachedDataChanged",
                        "ts": "2026-11-02T09:00:00.000Z", "tenant": TENANT, "media": "voice",
                        "seq": 1, "interaction_id": "c-1", "user_data": user_data})
    event = decode(raw, Source("voice", False), TENANT)
    assert isinstance(event, InteractionEvent) and event.user_data is None
    assert problem in (event.bad_user_data or ""), event.bad_user_data


def test_user_data_at_its_limits_is_valid() -> None:
    user_data = {"k" * 64: "v" * 1024, **{f"k{i}": i for i in range(98)}, "none": None}
    raw = orjson.dumps({"event_id": "e", "type": "EventAttachedDataChanged",
                        "ts": "2026-11-02T09:00:00.000Z", "tenant": TENANT, "media": "voice",
                        "seq": 1, "interaction_id": "c-1", "user_data": user_data})
    event = decode(raw, Source("voice", False), TENANT)
    assert isinstance(event, InteractionEvent)
    assert event.user_data == user_data and event.bad_user_data is None


def test_every_reason_is_exercised_by_the_scenarios() -> None:
    assert {c["reason"] for _, c in BAD} == set(REASONS)


# --- nothing makes decode raise ---------------------------------------------------------------

_INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
_SCALARS = (st.none() | st.booleans() | _INT64 | st.text(max_size=30)
            | st.floats(allow_nan=False, allow_infinity=False))


def _containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)


JSON_VALUES = st.recursive(_SCALARS, _containers, max_leaves=12)
SOURCE_STRATEGY = st.sampled_from(list(SOURCES.values()))

# Plausible values and junk, mixed: objects shaped like events reach the deep checks.
_TS_TEXT = st.sampled_from([
    "2026-11-02T09:00:00.000Z", "2026-11-02T09:00:00Z", "2026-11-02T09:00:00.123+02:00",
    "2026-11-02 09:00:00Z", "2026-11-02T09:00:00", "yesterday", "", "T", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999-01:00", "2026-02-30T00:00:00Z", "2026-11-02T25:00:00Z",
])
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.text(max_size=140) | JSON_VALUES,
    "type": st.sampled_from(sorted(INTERACTION_TYPES | AGENT_TYPES)) | JSON_VALUES,
    "ts": _TS_TEXT | st.text(max_size=40) | JSON_VALUES,
    "tenant": st.sampled_from([TENANT, "other"]) | JSON_VALUES,
    "media": st.sampled_from(sorted(MEDIA) + ["fax"]) | JSON_VALUES,
    "seq": st.integers(min_value=-5, max_value=2**63) | JSON_VALUES,
    "interaction_id": st.text(max_size=10) | JSON_VALUES,
    "agent_login": st.text(max_size=10) | JSON_VALUES,
    "dn": st.text(max_size=10) | JSON_VALUES,
    "direction": st.sampled_from(sorted(DIRECTIONS) + ["sideways"]) | JSON_VALUES,
    "cause": st.sampled_from(sorted(CAUSES) + ["vanished"]) | JSON_VALUES,
    "workmode": st.sampled_from(sorted(WORKMODES) + ["Lunch"]) | JSON_VALUES,
    "from": JSON_VALUES, "to": JSON_VALUES, "target": JSON_VALUES, "reason": JSON_VALUES,
}
EVENT_LIKE = st.fixed_dictionaries({}, optional=_FIELD_VALUES)


@given(value=st.binary(max_size=300), source=SOURCE_STRATEGY)
@example(value=b"", source=SOURCES[TOPICS[0]])
@example(value=b"\xff\xfe garbage", source=SOURCES[TOPICS[0]])
@example(value=b"[" * 5000, source=SOURCES[TOPICS[0]])
@example(value=b"1e999", source=SOURCES[TOPICS[0]])
@example(value=b"99999999999999999999999999", source=SOURCES[TOPICS[0]])
@example(value=b'"\\ud800"', source=SOURCES[TOPICS[0]])
def test_arbitrary_bytes_never_raise(value: bytes, source: Source) -> None:
    assert_event_or_reason(decode(value, source, TENANT))


def test_no_value_is_not_json() -> None:
    assert _reason(decode(None, SOURCES[TOPICS[0]], TENANT)) == "not_json"


@given(value=JSON_VALUES, source=SOURCE_STRATEGY)
def test_arbitrary_json_never_raises(value: Any, source: Source) -> None:
    result = decode(orjson.dumps(value), source, TENANT)
    assert_event_or_reason(result)
    if not isinstance(value, dict):
        assert _reason(result) == "not_json"


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(obj=EVENT_LIKE, source=SOURCE_STRATEGY)
def test_event_shaped_junk_never_raises(obj: dict[str, Any], source: Source) -> None:
    assert_event_or_reason(decode(orjson.dumps(obj), source, TENANT))


# --- single faults in valid events ---------------------------------------------------------

VALID_STRATEGY = st.sampled_from(VALID_OBJECTS)
DIGITAL_INTERACTIONS = st.sampled_from(
    [p for p in VALID_OBJECTS if p[0] == "acme.digital.interactions"])
_JSON_INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what orjson can write


def _required(topic: str, obj: dict[str, Any]) -> list[str]:
    """The fields whose absence alone makes this valid event a ``missing_field``."""
    names = list(ENVELOPE)
    if topic.endswith(".agents"):
        return names + ["agent_login"]
    names.append("interaction_id")
    kind, voice = obj["type"], obj["media"] == "voice"
    if kind in ("EventQueued", "EventDiverted") or (voice and kind in PARTY_TYPES):
        names.append("dn")
    if kind == "EventDiverted":
        names.append("target")
    if kind in PARTY_TYPES and not voice:
        present = [n for n in ("dn", "agent_login") if obj.get(n) is not None]
        if len(present) == 1:  # digital parties need one of the two
            names += present
    return names


@given(picked=VALID_STRATEGY, data=st.data(), as_null=st.booleans())
def test_dropping_a_required_field_is_missing_field(picked: tuple[str, dict[str, Any]],
                                                    data: st.DataObject, as_null: bool) -> None:
    topic, obj = picked
    name = data.draw(st.sampled_from(_required(topic, obj)), label="field")
    mutated = dict(obj)
    if as_null:
        mutated[name] = None  # null counts as absent
    else:
        mutated.pop(name, None)
    assert _reason(_decode_obj(mutated, topic)) == "missing_field"


def _wrong_type_for(name: str) -> st.SearchStrategy[Any]:
    """Values of a type the field never has (or, for strings, the empty string)."""
    containers = st.lists(_JSON_INT, max_size=2) | st.dictionaries(st.text(max_size=3),
                                                                   _JSON_INT, max_size=2)
    if name == "seq":
        return (st.text(max_size=5) | st.booleans() | st.integers(min_value=-(2**63), max_value=-1)
                | containers
                | st.floats(allow_nan=False, allow_infinity=False))
    wrong = _JSON_INT | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) \
        | containers
    # An empty string is no value either, except for 'type', where it is just unknown.
    return wrong if name == "type" else wrong | st.just("")


@given(picked=VALID_STRATEGY, data=st.data())
def test_a_value_of_the_wrong_type_is_bad_value(picked: tuple[str, dict[str, Any]],
                                                data: st.DataObject) -> None:
    topic, obj = picked
    fields = ENVELOPE + (AGENT_FIELDS if topic.endswith(".agents") else INTERACTION_FIELDS)
    name = data.draw(st.sampled_from(fields), label="field")
    mutated = {**obj, name: data.draw(_wrong_type_for(name), label="value")}
    assert _reason(_decode_obj(mutated, topic)) == "bad_value", mutated


_NOT_A_TS = st.sampled_from([
    "yesterday", "2026-11-02", "2026-11-02T09:00:00", "2026-11-02T09:00:00.000",
    "2026-13-02T09:00:00Z", "2026-11-31T09:00:00Z", "2026-11-02T24:00:01Z", "T",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
]) | st.text(max_size=30).filter(lambda s: "T" not in s)


@given(picked=VALID_STRATEGY, data=st.data())
def test_an_impossible_value_is_bad_value(picked: tuple[str, dict[str, Any]],
                                          data: st.DataObject) -> None:
    topic, obj = picked
    agents = topic.endswith(".agents")
    choices: dict[str, st.SearchStrategy[Any]] = {
        "ts": _NOT_A_TS,
        "media": st.text(min_size=1, max_size=8).filter(lambda s: s not in MEDIA),
        "event_id": st.text(min_size=129, max_size=200),
    }
    if agents:
        choices["workmode"] = st.text(min_size=1, max_size=8).filter(lambda s: s not in WORKMODES)
    else:
        choices["direction"] = st.text(min_size=1, max_size=8).filter(
            lambda s: s not in DIRECTIONS)
        choices["cause"] = st.text(min_size=1, max_size=8).filter(lambda s: s not in CAUSES)
    name = data.draw(st.sampled_from(sorted(choices)), label="field")
    mutated = {**obj, name: data.draw(choices[name], label="value")}
    assert _reason(_decode_obj(mutated, topic)) == "bad_value", mutated


@given(picked=DIGITAL_INTERACTIONS, kind=st.sampled_from(sorted(VOICE_ONLY_TYPES)))
def test_voice_only_types_on_digital_media_are_bad_value(picked: tuple[str, dict[str, Any]],
                                                         kind: str) -> None:
    topic, obj = picked
    assert _reason(_decode_obj({**obj, "type": kind}, topic)) == "bad_value"


@given(picked=VALID_STRATEGY,
       kind=st.text(max_size=30).filter(lambda s: s not in INTERACTION_TYPES | AGENT_TYPES))
def test_an_unknown_type_is_unknown_type(picked: tuple[str, dict[str, Any]], kind: str) -> None:
    topic, obj = picked
    assert _reason(_decode_obj({**obj, "type": kind}, topic)) == "unknown_type"


@given(picked=VALID_STRATEGY, tenant=st.text(min_size=1, max_size=20).filter(
    lambda s: s != TENANT))
def test_another_tenant_is_wrong_tenant(picked: tuple[str, dict[str, Any]], tenant: str) -> None:
    topic, obj = picked
    assert _reason(_decode_obj({**obj, "tenant": tenant}, topic)) == "wrong_tenant"


@given(picked=VALID_STRATEGY, other=st.sampled_from(TOPICS))
def test_an_event_on_another_raw_topic_is_wrong_topic(picked: tuple[str, dict[str, Any]],
                                                      other: str) -> None:
    topic, obj = picked
    result = _decode_obj(obj, other)
    if other == topic:
        assert not isinstance(result, Rejection)
    else:
        assert _reason(result) == "wrong_topic"


@given(picked=VALID_STRATEGY, data=st.data())
def test_media_of_the_other_channel_is_wrong_topic(picked: tuple[str, dict[str, Any]],
                                                   data: st.DataObject) -> None:
    topic, obj = picked
    other = ["chat", "email"] if ".voice." in topic else ["voice"]
    media = data.draw(st.sampled_from(other), label="media")
    assert _reason(_decode_obj({**obj, "media": media}, topic)) == "wrong_topic"


@given(picked=VALID_STRATEGY,
       extra=st.dictionaries(st.text(min_size=1, max_size=12).filter(
           lambda k: k not in {*ENVELOPE, *INTERACTION_FIELDS, *AGENT_FIELDS, USER_DATA}),
           JSON_VALUES, max_size=4))
def test_unknown_extra_fields_are_ignored(picked: tuple[str, dict[str, Any]],
                                          extra: dict[str, Any]) -> None:
    topic, obj = picked
    assert _decode_obj({**extra, **obj}, topic) == _decode_obj(obj, topic)


def test_the_prefix_is_not_the_decoders_business() -> None:
    # Routing by prefix happens when subscribing; decode only knows channel and family.
    _, topic, raw = VALID[0]
    other = Source.of_topic("another-prefix." + topic.split(".", 1)[1])
    assert not isinstance(decode(raw, other, TENANT), Rejection)


@pytest.mark.parametrize("ts, expected_ms", [
    ("2026-11-02T09:00:00.000Z", 1793610000000),
    ("2026-11-02T09:00:00.5Z", 1793610000500),
    ("2026-11-02T11:00:00.250+02:00", 1793610000250),
])
def test_timestamps_become_utc_milliseconds(ts: str, expected_ms: int) -> None:
    obj = {"event_id": "e", "type": "EventAgentReady", "ts": ts, "tenant": TENANT,
           "media": "voice", "seq": 0, "agent_login": "5001"}
    event = _decode_obj(obj, "acme.voice.agents")
    assert isinstance(event, AgentEvent)
    assert event.ts_ms == expected_ms and event.ts.utcoffset().total_seconds() == 0


def test_defaults_of_optional_fields() -> None:
    released = {"event_id": "e", "type": "EventReleased", "ts": "2026-11-02T09:00:00.000Z",
                "tenant": TENANT, "media": "voice", "seq": 3, "interaction_id": "c-1",
                "dn": "7001"}
    event = _decode_obj(released, "acme.voice.interactions")
    assert isinstance(event, InteractionEvent) and event.cause == "normal"
    not_ready = {"event_id": "a", "type": "EventAgentNotReady", "ts": "2026-11-02T09:00:00.000Z",
                 "tenant": TENANT, "media": "chat", "seq": 3, "agent_login": "6001"}
    event = _decode_obj(not_ready, "acme.digital.agents")
    assert isinstance(event, AgentEvent) and event.workmode == "NotReady" and event.reason is None


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999-01:00"])
def test_instants_outside_the_datetime_range_are_bad_value(ts: str) -> None:
    # Valid ISO text whose UTC instant Python cannot represent: decode once raised here.
    obj = {"event_id": "e", "type": "EventAgentReady", "ts": ts, "tenant": TENANT,
           "media": "voice", "seq": 0, "agent_login": "5001"}
    assert _reason(_decode_obj(obj, "acme.voice.agents")) == "bad_value"


# --- the contract's limits (events.md, "Bad input", v2) -------------------------------------

CALL = next(obj for topic, obj in VALID_OBJECTS
            if topic == "acme.voice.interactions" and obj.get("from") and obj.get("dn"))
CALL_TOPIC = "acme.voice.interactions"


@pytest.mark.parametrize("change, detail", [
    ({"interaction_id": "c" * 129}, "longer than 128"),
    ({"dn": "7" * 129}, "longer than 128"),
    ({"from": "+1" * 129}, "longer than 256"),
    ({"from": "x" * 1_000_000}, "longer than 256"),
    ({"interaction_id": "call\x00-1"}, "U+0000"),
    ({"from": "+1555\x00"}, "U+0000"),
    ({"seq": 2**63}, "2^63"),
    ({"ts": "1999-12-31T23:59:59.999Z"}, "2000-01-01"),
    ({"ts": "2100-01-01T00:00:00.000Z"}, "2100-01-01"),
    ({"ts": "9999-12-31T23:59:59.999Z"}, "2100-01-01"),
])
def test_what_the_info_mart_cannot_hold_is_bad_value(change: dict[str, Any], detail: str) -> None:
    result = _decode_obj({**CALL, **change}, CALL_TOPIC)
    assert isinstance(result, Rejection) and result.reason == "bad_value"
    assert detail in result.detail


def test_the_limits_themselves_are_accepted() -> None:
    edge = {**CALL, "interaction_id": "c" * 128, "from": "+" * 256, "seq": 2**63 - 1,
            "ts": "2099-12-31T23:59:59.999Z"}
    assert isinstance(_decode_obj(edge, CALL_TOPIC), InteractionEvent)


def test_an_event_too_far_ahead_of_the_workers_clock_is_bad_value() -> None:
    value = orjson.dumps({**CALL, "ts": "2040-01-01T00:00:00.000Z"})
    now_ms = 1_796_500_000_000  # 2026-12-06
    result = decode(value, SOURCES[CALL_TOPIC], TENANT, not_after_ms=now_ms + 300_000)
    assert isinstance(result, Rejection) and result.reason == "bad_value"
    assert "GIM_MAX_CLOCK_SKEW" in result.detail
    assert isinstance(decode(orjson.dumps(CALL), SOURCES[CALL_TOPIC], TENANT,
                             not_after_ms=now_ms + 300_000), InteractionEvent)
