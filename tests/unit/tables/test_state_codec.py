"""Table state survives the trip through bytes unchanged, for every state a scenario makes,
and states stored by an earlier day's code load."""

import dataclasses
from pathlib import Path

import orjson
import pytest
from gim_faust.tables import state_codec
from gim_faust.transforms.after_call_work import Join
from gim_faust.transforms.agent_state import AgentState
from gim_faust.transforms.interaction_state import Ended, InteractionState
from gim_faust.transforms.runner import Runner

from tests.support import scenario as sc

FACT = ("acme.gsp.facts", b"interaction_fact:c-1", b'{"table":"interaction_fact","id":1}')
PARTY = ("acme.gsp.party-ended.voice", b"5001", b'{"agent_login":"5001"}')
# As the versions before the batch engine wrote them: the sent values as JSON, not strings.
OUTBOX = [["acme.voice.agents", 41, [[t, k.decode(), orjson.loads(v)] for t, k, v in (FACT, PARTY)]],
          ["acme.gsp.party-ended.voice", 41, [[t, k.decode(), orjson.loads(v)]
                                              for t, k, v in (FACT,)]]]


def round_trip(state: object) -> tuple[dict, list]:
    return state_codec.unpack(state_codec.pack(state, OUTBOX))


def test_every_state_of_a_scenario_round_trips() -> None:
    runner = Runner(sc.config_view("small"), "acme", 1800)
    seen_open = 0
    for message in sc.interleaved("small"):
        runner.feed(f"acme.{message.topic_suffix}", message.value)
        for state in (s for states in runner.interactions.values() for s in states.values()):
            seen_open += isinstance(state, InteractionState)
            raw, outbox = round_trip(state)
            assert state_codec.interaction_from(raw) == state
    agents = [state for states in runner.agents.values() for state in states.values()]
    for state in agents:
        raw, outbox = round_trip(state)
        assert state_codec.agent_from(raw) == state
    parties = [fact for facts in runner.party_facts.values() for fact in facts.values()]
    for fact in parties:
        assert state_codec.decode_fact(state_codec.encode_fact(fact)) == fact
    assert seen_open and agents and parties


def test_outbox_gives_back_the_exact_bytes_sent_by_topic_and_offset() -> None:
    _, outbox = round_trip(None)
    assert state_codec.sent_at(outbox, "acme.voice.agents", 41) == [FACT, PARTY]
    assert state_codec.sent_at(outbox, "acme.gsp.party-ended.voice", 41) == [FACT]
    assert state_codec.sent_at(outbox, "acme.voice.agents", 42) == []


def test_outbox_entries_of_the_format_without_topics_are_dropped() -> None:
    legacy = b'{"state":{"a":1},"outbox":[[41,[["acme.gsp.facts","k","{}"]]]]}'
    assert state_codec.unpack(legacy) == ({"a": 1}, [])


def test_a_value_says_its_format_and_one_without_is_the_first() -> None:
    assert orjson.loads(state_codec.pack({"a": 1}, []))["format"] == state_codec.FORMAT
    assert state_codec.unpack(b'{"state":{"a":1},"outbox":[]}') == ({"a": 1}, [])


def test_a_newer_format_is_refused_with_what_to_do() -> None:
    newer = orjson.dumps({"format": state_codec.FORMAT + 1, "state": {}, "outbox": []})
    with pytest.raises(state_codec.NewerStateFormat, match="GIM_GSP_APP_ID"):
        state_codec.unpack(newer)


STORED = Path(__file__).resolve().parents[2] / "data" / "states" / "format-1.jsonl"


def stored_states() -> list[tuple[str, bytes]]:
    """Values as the GSP stored them on 2026-12-06 (format 1): an agent with its
    after-call-work join, an open interaction with held parties, an ended one."""
    return [(line["kind"], orjson.dumps(line["stored"]))
            for line in map(orjson.loads, STORED.read_bytes().splitlines())]


@pytest.mark.parametrize("kind, stored", stored_states(), ids=lambda v: str(v)[:8])
def test_a_stored_state_loads_and_writes_back_all_it_held(kind: str, stored: bytes) -> None:
    raw, outbox = state_codec.unpack(stored)
    state = (state_codec.agent_from if kind == "agent" else state_codec.interaction_from)(raw)
    assert type(state) is {"agent": AgentState, "open": InteractionState, "ended": Ended}[kind]
    assert keeps_everything(orjson.loads(state_codec.pack(state, outbox)), orjson.loads(stored))
    assert {"agent": {"MediaState", "Session", "CurrentState", "Join", "Interval", "Pending",
                      "tuple"},
            "open": {"Segment", "Party"}, "ended": set()}[kind] <= set(nested_types(state))


def keeps_everything(written: object, stored: object) -> bool:
    """``written`` holds every value of ``stored`` unchanged; it may add fields that came
    after the state was stored (at their defaults, which the next test checks)."""
    if isinstance(stored, dict):
        return isinstance(written, dict) and all(
            key in written and keeps_everything(written[key], value)
            for key, value in stored.items())
    if isinstance(stored, list):
        return (isinstance(written, list) and len(written) == len(stored)
                and all(map(keeps_everything, written, stored)))
    return written == stored


def nested_types(value: object) -> list[str]:
    """The type names of everything inside ``value`` (JSON would look the same as dicts)."""
    if dataclasses.is_dataclass(value):
        inner = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, Join):  # a plain class that writes its own JSON
        inner = [value.intervals, value.parties, value.progress_ms, value.logged_out_ms]
    elif isinstance(value, dict):
        inner = list(value.values())
    elif isinstance(value, list | tuple):
        inner = list(value)
    else:
        return []
    return [type(v).__name__ for v in inner] + [n for v in inner for n in nested_types(v)]


def test_a_field_the_stored_state_lacks_gets_its_default() -> None:
    """What a field added later looks like to a state stored before it."""
    (_, stored), = [(k, v) for k, v in stored_states() if k == "agent"]
    raw, _ = state_codec.unpack(stored)
    for media in raw["media"].values():
        del media["join"]["progress_ms"]
        for pending in media["join"]["parties"].values():
            del pending["revision"]
    state = state_codec.agent_from(raw)
    joins = [media.join for media in state.media.values()]
    assert joins and all(join.progress_ms == Join().progress_ms for join in joins)
    assert all(p.revision == 0 and isinstance(p.emitted, tuple)
               for join in joins for p in join.parties.values())
