"""Table state survives the trip through bytes unchanged, for every state a scenario makes."""

from gim_faust.tables import state_codec
from gim_faust.transforms.interaction import InteractionState
from gim_faust.transforms.runner import Runner

from tests import scenario as sc

OUTBOX = [[41, [["acme.gsp.facts", "interaction_fact:c-1", "{}"]]]]


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
            assert state_codec.interaction_from(raw) == state and outbox == OUTBOX
    for state in runner.agents.values():
        raw, outbox = round_trip(state)
        assert state_codec.agent_from(raw) == state and outbox == OUTBOX
    for fact in runner.party_facts.values():
        assert state_codec.decode_fact(state_codec.encode_fact(fact)) == fact
    assert seen_open and runner.agents and runner.party_facts
