"""Table state survives the trip through bytes unchanged, for every state a scenario makes."""

import orjson
import pytest
from gim_faust.tables import state_codec
from gim_faust.transforms.interaction import InteractionState
from gim_faust.transforms.runner import Runner

from tests import scenario as sc

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
        for state in runner.interactions.values():
            seen_open += isinstance(state, InteractionState)
            raw, outbox = round_trip(state)
            assert state_codec.interaction_from(raw) == state
    for state in runner.agents.values():
        raw, outbox = round_trip(state)
        assert state_codec.agent_from(raw) == state
    for fact in runner.party_facts.values():
        assert state_codec.decode_fact(state_codec.encode_fact(fact)) == fact
    assert seen_open and runner.agents and runner.party_facts


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
