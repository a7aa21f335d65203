"""The decoder's fast path (``models/wire.py``) answers exactly what the checks answer.

``decode`` gives a message to msgspec first and to the checks (``check``) only when the fast
path does not vouch for it. These properties compare the two on everything the codec tests
throw at the decoder, and on what msgspec and orjson read differently (an unknown field
msgspec would skip unread, a number beyond a double, a key given twice, U+0000, bytes that
are not UTF-8): any difference is a message the fast path takes that the contract refuses,
or an event it builds otherwise.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gim_faust.models.codec import Rejection, Source, check, decode, vouched
from tests.unit.models.test_codec import (
    _FIELD_VALUES,
    EVENT_LIKE,
    JSON_VALUES,
    SOURCE_STRATEGY,
    SOURCES,
    TENANT,
    TOPICS,
    VALID,
    VALID_STRATEGY,
)

# The fields of both families, and one the contract does not know.
FIELDS = sorted(set(_FIELD_VALUES) | {"user_data", "consult_of", "from_interaction_id",
                                      "unknown"})
# Raw JSON snippets that msgspec and orjson may read differently.
TRICKY = [b"null", b'""', b'"\\u0000"', b'"a\\u0000"', b"1e400", b"-1e400",
          b"123456789012345678901234567890", b'"\xff"', b'"\xc3\xa9t\xc3\xa9"', b'"\\ud800"',
          b'"\\ud83d\\ude00"', b"0.5", b"true", b"[]", b'{"k": 1e400}', b'{"k": "\\u0000"}',
          b'{"k": "\xff"}', b'"2026-11-02T09:00:00.1234567Z"', b'"2026-11-02t09:00:00z"',
          b"9223372036854775807", b"9223372036854775808", b"-0", b"1.0"]


def _same(value: bytes | None, source: Source, not_after_ms: int | None = None) -> None:
    assert decode(value, source, TENANT, not_after_ms) == check(value, source, TENANT,
                                                                 not_after_ms)


def _with_field(raw: bytes, name: str, snippet: bytes) -> bytes:
    """``raw`` (a JSON object) with ``"name": snippet`` added last: a key it already has is
    then given twice, and JSON readers keep the last."""
    return raw.rstrip()[:-1] + b',"' + name.encode() + b'":' + snippet + b"}"


def test_the_fast_path_takes_every_valid_scenario_event() -> None:
    for _, topic, raw in VALID:
        event = vouched(raw, SOURCES[topic], TENANT, None)
        assert event is not None and event == check(raw, SOURCES[topic], TENANT), raw


@given(value=st.binary(max_size=300), source=SOURCE_STRATEGY)
@example(value=b'{"a":1e400}', source=SOURCES[TOPICS[0]])
def test_arbitrary_bytes(value: bytes, source: Source) -> None:
    _same(value, source)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(obj=EVENT_LIKE, source=SOURCE_STRATEGY)
def test_event_shaped_junk(obj: dict[str, Any], source: Source) -> None:
    _same(orjson.dumps(obj), source)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(picked=VALID_STRATEGY, name=st.sampled_from(FIELDS), data=st.data(),
       topic=st.sampled_from(TOPICS), skew=st.sampled_from([None, 0, 10**15]))
def test_one_field_of_a_valid_event_changed(picked: tuple[str, dict[str, Any]], name: str,
                                            data: st.DataObject, topic: str,
                                            skew: int | None) -> None:
    """A valid event with one field set to anything, read from its own topic or another,
    with or without a worker's clock."""
    own_topic, obj = picked
    value = data.draw(_FIELD_VALUES.get(name, JSON_VALUES) | JSON_VALUES, label="value")
    mutated = orjson.dumps({**obj, name: value})
    source = SOURCES[data.draw(st.sampled_from([own_topic, topic]), label="topic")]
    _same(mutated, source, skew)


def _shapes() -> list[tuple[str, bytes]]:
    """One valid event of each shape: topic, type, media and the fields it has."""
    seen: dict[tuple[Any, ...], tuple[str, bytes]] = {}
    for _, topic, raw in VALID:
        obj = orjson.loads(raw)
        seen.setdefault((topic, obj["type"], obj["media"], frozenset(obj)), (topic, raw))
    return list(seen.values())


def test_what_msgspec_and_orjson_may_read_differently() -> None:
    """Every field of every shape of event, absent, null, empty, or given each tricky
    snippet (twice when the event has it: the last counts)."""
    for topic, raw in _shapes():
        obj = orjson.loads(raw)
        for name in FIELDS:
            for changed in (orjson.dumps({k: v for k, v in obj.items() if k != name}),
                            *(_with_field(raw, name, snippet) for snippet in TRICKY)):
                for source in (SOURCES[topic], SOURCES[TOPICS[0]]):
                    _same(changed, source)


def test_a_refused_key_given_again_with_a_good_value_is_taken_by_both() -> None:
    _, topic, raw = next(m for m in VALID if m[1].endswith("voice.agents"))
    value = _with_field(_with_field(raw, "workmode", b'"Lunch"'), "workmode", b'"NotReady"')
    result = decode(value, SOURCES[topic], TENANT)
    assert not isinstance(result, Rejection) and result == check(value, SOURCES[topic], TENANT)
