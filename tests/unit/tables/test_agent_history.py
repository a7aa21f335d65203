"""An agent's value and its joins' history keys (tables/agent_history.py): what is written
reloads as it was, a history is written only when it changed, and a write cut anywhere
leaves the agent as it was before or after it, never broken."""

from __future__ import annotations

import copy
from itertools import pairwise

import orjson
import pytest
from gim_faust.tables import state_codec
from gim_faust.tables.agent_history import AgentValues, MissingHistory, Written, history_key
from gim_faust.transforms import after_call_work
from gim_faust.transforms.agent_state import AgentState
from gim_faust.transforms.runner import Runner

from tests.support import scenario as sc
from tests.unit.tables.test_state_codec import stored_states

VALUES = AgentValues()


def apply(table: dict[bytes, bytes], ops: list[tuple[bytes, bytes | None]]) -> None:
    """As RocksDB through a Faust table: deleting a key it does not hold does nothing."""
    for key, value in ops:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def reload(table: dict[bytes, bytes], key: bytes) -> AgentState:
    state, _ = VALUES.load(key, table[key], table.get, {})
    return state


@pytest.mark.parametrize("name", ["small", "day", "dst"])
def test_what_is_written_after_every_event_reloads_as_it_was(name: str) -> None:
    """Each agent the event changed is written as a batch writes it (the record of what the
    table holds kept from write to write) and read back. A change of a join that its
    ``changes`` count missed would leave an old history in the table, and fail here."""
    runner = Runner(sc.config_view(name), "acme", 1800)
    table: dict[bytes, bytes] = {}
    written: dict[bytes, dict[str, Written]] = {}
    packed: dict[bytes, bytes] = {}
    histories = 0
    for message in sc.interleaved(name):
        runner.feed(f"acme.{message.topic_suffix}", message.value)
        for channel, states in runner.agents.items():
            for login, state in states.items():
                key = f"{channel}/{login}".encode()
                ops = VALUES.dump(key, state, [], written.setdefault(key, {}))
                if ops[-1][1] == packed.get(key) and len(ops) == 1:
                    continue  # nothing changed for this agent
                apply(table, ops)
                packed[key] = table[key]
                histories += len(ops) - 1
                assert reload(table, key) == state, (name, login)
    assert histories and all(b"\0" in key or key in packed for key in table)


def _busy_agent() -> tuple[list[AgentState], bytes]:
    """The successive states of the ``small`` scenario's agent with most parties."""
    runner = Runner(sc.config_view("small"), "acme", 1800)
    states: dict[str, list[AgentState]] = {}
    for message in sc.interleaved("small"):
        runner.feed(f"acme.{message.topic_suffix}", message.value)
        for login, state in runner.agents["voice"].items():
            states.setdefault(login, []).append(copy.deepcopy(state))
    login = max(states, key=lambda k: len(states[k][-1].media["voice"].join.parties))
    return states[login], login.encode()


def test_a_write_cut_anywhere_leaves_the_agent_before_or_after_it() -> None:
    """kill -9 between two puts of one agent: RocksDB and the changelog hold a prefix of
    its writes, in order."""
    successive, key = _busy_agent()
    table: dict[bytes, bytes] = {}
    written: dict[str, Written] = {}
    apply(table, VALUES.dump(key, successive[0], [], written))
    cuts = 0
    for before, after in pairwise(successive):
        ops = VALUES.dump(key, after, [], written)
        for cut in range(len(ops) + 1):
            partial = dict(table)
            apply(partial, ops[:cut])
            assert reload(partial, key) in (before, after)
            cuts += 1
        apply(table, ops)
        assert reload(table, key) == after
    hours = successive[-1].media["voice"].join.hours
    history_keys = {k.rsplit(b"\0", 1)[0] for k in table if b"\0" in k}
    assert cuts > len(successive) and len(history_keys) == len(hours)  # emptied hours: gone


def test_only_the_hours_that_changed_are_written_again() -> None:
    successive, key = _busy_agent()
    state = successive[-1]
    join = state.media["voice"].join
    hours = sorted(join.hours)
    written: dict[str, Written] = {}
    first = VALUES.dump(key, state, [], written)
    assert [k for k, _ in first] == [history_key(key, "voice", h, 0) for h in hours] + [key]
    state.last_seq["voice"] += 1  # the agent changed, its join did not
    assert [k for k, _ in VALUES.dump(key, state, [], written)] == [key]
    after_call_work.end_interval(join, join.intervals[0].id, join.intervals[0].end_ms + 1)
    changed = join.intervals[0].start_ms // after_call_work.HOUR_MS
    assert [k for k, _ in VALUES.dump(key, state, [], written)] == [
        history_key(key, "voice", changed, 1), key]  # the other slot; the agent names it
    VALUES.rewrite(written)  # a replay: everything again, each hour to its other slot
    rewritten = VALUES.dump(key, state, [], written)
    assert [k for k, _ in rewritten] == [
        history_key(key, "voice", h, 0 if h == changed else 1) for h in hours] + [key]
    assert orjson.loads(rewritten[-1][1])["format"] == 2


def test_an_agent_of_format_1_moves_its_history_to_a_key_at_its_next_write() -> None:
    (stored,) = [value for kind, value in stored_states() if kind == "agent"]
    written: dict[str, Written] = {}
    state, _ = VALUES.load(b"5003", stored, {}.get, written)
    table = {b"5003": stored}
    ops = VALUES.dump(b"5003", state, [], written)
    hours = len(state.media["voice"].join.hours)
    assert hours and [value is None for _, value in ops] == [False] * (hours + 1)
    apply(table, ops)
    assert reload(table, b"5003") == state
    assert b"parties" not in table[b"5003"] and len(table) == hours + 1


def test_a_value_naming_a_history_the_table_lacks_stops_the_worker() -> None:
    successive, key = _busy_agent()
    table: dict[bytes, bytes] = {}
    apply(table, VALUES.dump(key, successive[-1], [], {}))
    del table[next(k for k in table if b"\0" in k)]
    with pytest.raises(MissingHistory):
        reload(table, key)
    assert issubclass(MissingHistory, state_codec.FatalError)


def test_an_hour_the_join_forgets_leaves_the_table() -> None:
    successive, key = _busy_agent()
    state = successive[-1]
    join = state.media["voice"].join
    table: dict[bytes, bytes] = {}
    written: dict[str, Written] = {}
    apply(table, VALUES.dump(key, state, [], written))
    after_call_work.end_interval(join, join.intervals[0].id, join.intervals[0].end_ms)
    apply(table, VALUES.dump(key, state, [], written))  # that hour in both slots now
    join.progress_ms += 2 * after_call_work.RETENTION_MS
    after_call_work.prune(join, {})  # no party row to forget with them here
    ops = VALUES.dump(key, state, [], written)
    apply(table, ops)
    assert reload(table, key) == state
    left = {k.split(b"\0")[2] for k in table if b"\0" in k}
    assert left == {str(hour).encode() for hour in join.hours}
    assert sum(value is None for _, value in ops) >= 2

