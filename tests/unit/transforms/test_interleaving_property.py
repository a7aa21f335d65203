"""Arrival order across topics must not matter (contract ``events.md``: events of different
topics arrive in any relative order; ``infomart.md``: after-call work "must come out the same
whichever of the two topics delivers first").

For the ``small`` scenario, any interleaving of the four topic streams that keeps each topic's
own order must give exactly the same final rows as the delivery order. Versions are left out
of the comparison: they number the updates of a row and may legitimately differ with the
order in which the after-call-work join hears of things.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import scenario as sc
from tests.unit.transforms.event_builders import Agent, Call, by_time, config, run, unversioned

SCENARIO = "small"
STREAMS = {suffix: list(sc.messages(SCENARIO, (suffix,))) for suffix in sc.TOPIC_FILES}
LABELS = [suffix for suffix, stream in STREAMS.items() for _ in stream]


def weave(labels: list[str]) -> list[sc.Message]:
    """The messages in the order ``labels`` names their topics, each topic's own order kept."""
    cursors = {suffix: iter(stream) for suffix, stream in STREAMS.items()}
    return [next(cursors[label]) for label in labels]


@st.composite
def runs(draw: Any) -> list[str]:
    """Topics in long runs (one topic far ahead of the others), the rest in a drawn order."""
    left = {suffix: len(stream) for suffix, stream in STREAMS.items()}
    labels: list[str] = []
    for suffix, length in draw(st.lists(st.tuples(st.sampled_from(sc.TOPIC_FILES),
                                                  st.integers(1, 300)), max_size=20)):
        take = min(length, left[suffix])
        labels += [suffix] * take
        left[suffix] -= take
    for suffix in draw(st.permutations(sc.TOPIC_FILES)):
        labels += [suffix] * left[suffix]
    return labels


interleavings = st.one_of(st.permutations(LABELS), runs())


def final_rows(messages: list[sc.Message]) -> tuple[dict[Any, Any], dict[str, int]]:
    runner = sc.replay(SCENARIO, messages)
    return unversioned(runner), dict(runner.counts)


@cache
def baseline() -> tuple[dict[Any, Any], dict[str, int]]:
    """The rows of the delivery order (which the replay tests compare with expected.json)."""
    return final_rows(list(sc.messages(SCENARIO)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(interleavings)
def test_any_interleaving_of_the_topics_gives_the_same_rows(labels: list[str]) -> None:
    want_rows, want_counts = baseline()
    have_rows, have_counts = final_rows(weave(labels))
    missing = want_rows.keys() - have_rows.keys()
    extra = have_rows.keys() - want_rows.keys()
    differ = [key for key in want_rows.keys() & have_rows.keys()
              if want_rows[key] != have_rows[key]]
    assert not (missing or extra or differ), (
        f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}, differing: "
        + "; ".join(f"{want_rows[k]} != {have_rows[k]}" for k in differ[:3]))
    assert have_counts == want_counts


def test_the_extremes_give_the_same_rows() -> None:
    want_rows, want_counts = baseline()
    for order in (sc.TOPIC_FILES, tuple(reversed(sc.TOPIC_FILES))):
        labels = [suffix for suffix in order for _ in STREAMS[suffix]]
        assert final_rows(weave(labels)) == (want_rows, want_counts)
    assert final_rows(sc.interleaved(SCENARIO)) == (want_rows, want_counts)


# --- the after-call-work join on a dense hand-written case ---------------------------------------

def _dense_case() -> list[Call | Agent]:
    """Three overlapping calls of one agent and after-call-work states close to their ends:
    ownership depends on which party ended last before each state."""
    def answered(key: str, start: float, end: float) -> Call:
        return (Call(key).ringing(start, "7001", "5001").established(start + 1, "7001", "5001")
                .released(end, "7001", "5001").ended(end))
    agent = (Agent("5001", dn="7001").login(0).ready(1).acw(101).ready(104).acw(106)
             .not_ready(120, "Break").acw(125).logout(160))
    return [answered("c-1", 10, 100), answered("c-2", 50, 105), answered("c-3", 90, 115),
            agent]


DENSE = _dense_case()
DENSE_MESSAGES = [stream.messages() for stream in DENSE]


@settings(max_examples=100, deadline=None)
@given(st.permutations([i for i, stream in enumerate(DENSE_MESSAGES) for _ in stream]))
def test_after_call_work_join_any_interleaving(labels: list[int]) -> None:
    cursors = [iter(stream) for stream in DENSE_MESSAGES]
    have = unversioned(run(config(), [next(cursors[i]) for i in labels]))
    want = unversioned(run(config(), by_time(*DENSE)))
    assert have == want
    figures = {k[1]: f.after_call_work_duration for k, f in want.items()
               if k[0] == "interaction_resource_fact"}
    # 101-104 -> c-1 (c-2 ends at 105, after it started); 106-120 -> c-2 (ended last before);
    # 125-160 (ended by the logout) -> c-3
    assert figures == {"c-1:1": 3, "c-2:1": 14, "c-3:1": 35}
    assert not [f for f in want.values() if getattr(f, "active_flag", 0)]
