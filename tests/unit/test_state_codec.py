"""Table state survives the trip through bytes unchanged, for every state a scenario makes."""

from gim_faust.tables import state_codec
from gim_faust.transforms.interaction import InteractionState
from tests import scenario as sc
from tests.unit.transforms.test_replay import config_view
from gim_faust.transforms.runner import Runner


def test_every_state_of_a_scenario_round_trips() -> None:
    runner = Runner(config_view("small"), "acme", 1800)
    seen_open = 0
    for message in sc.interleaved("small"):
        runner.feed(f"acme.{message.topic_suffix}", message.value)
        for state in runner.interactions.values():
            seen_open += isinstance(state, InteractionState)
            assert state_codec.decode_interaction(state_codec.encode_interaction(state)) == state
    for state in runner.agents.values():
        assert state_codec.decode_agent(state_codec.encode_agent(state)) == state
    for fact in runner.party_facts.values():
        assert state_codec.decode_fact(state_codec.encode_fact(fact)) == fact
    assert seen_open and runner.agents and runner.party_facts
