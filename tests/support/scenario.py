"""Scenario helpers shared by the replay, integration and end-to-end tests.

A scenario (``tests/data/scenarios/<name>/``) is a config seed, the raw messages of each
topic in delivery order, bad input, and the rows the Info Mart must hold. These helpers read
them and compare actual rows with the expected ones by natural keys, the way the scenarios'
README says: a resource is ``[resource_type, employee_id or DN number or code]``.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gim_faust.transforms.codes import TECHNICAL_RESULT
from gim_faust.transforms.keys import dn_key, person_key, reason_key
from gim_faust.transforms.outcome import Outcome
from gim_faust.transforms.runner import Runner

from gim_faust.models.facts import Fact, PlaceholderResource, ReasonCode, to_record

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"
TOPIC_FILES = ("voice.interactions", "voice.agents", "digital.interactions", "digital.agents")
FACT_TABLES = ("interaction_fact", "mediation_segment_fact", "interaction_resource_fact",
               "sm_res_session_fact", "sm_res_state_fact")
_CODES = {
    "media": ("media_type_key", {1: "VOICE", 2: "CHAT", 3: "EMAIL"}),
    "interaction_type": ("interaction_type_key", {1: "INBOUND", 2: "OUTBOUND", 3: "INTERNAL"}),
    "state": ("resource_state_key", {1: "READY", 2: "NOT_READY", 3: "AFTER_CALL_WORK"}),
}
_INSERT = re.compile(r"INSERT INTO (\w+) VALUES (.*?);\s*$", re.M | re.S)
_TOKEN = re.compile(r"'((?:[^']|'')*)'|(-?\d+)|(true|false|NULL)|([(),])", re.I)


@dataclass(frozen=True)
class Message:
    topic_suffix: str  # e.g. "voice.interactions"
    key: bytes
    value: bytes


def scenario(name: str) -> Path:
    return SCENARIOS / name


def expected(name: str) -> dict[str, Any]:
    return json.loads((scenario(name) / "expected.json").read_text())


def config_rows(name: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of ``config.sql``, per table, parsed without a database."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table, values in _INSERT.findall((scenario(name) / "config.sql").read_text()):
        row: list[Any] = []
        for text, number, word, punct in _TOKEN.findall(values):
            if punct == ")":
                tables.setdefault(table, []).append(tuple(row))
                row = []
            elif punct in ("(", ","):
                continue
            elif number:
                row.append(int(number))
            elif word:
                row.append({"true": True, "false": False}.get(word.lower()))
            else:
                row.append(text.replace("''", "'"))
    return tables


def messages(name: str, topics: Iterable[str] = TOPIC_FILES) -> Iterator[Message]:
    """Every message of the named topic files, file after file, in delivery order."""
    for suffix in topics:
        for line in (scenario(name) / f"acme.{suffix}.jsonl").read_bytes().splitlines():
            event = json.loads(line)
            key = event.get("interaction_id") or event.get("agent_login")
            yield Message(suffix, key.encode(), line)


def interleaved(name: str) -> list[Message]:
    """The topics merged by event time, each topic's own order kept: the closest to how
    they were produced."""
    streams = [list(messages(name, (suffix,))) for suffix in TOPIC_FILES]
    return list(heapq.merge(*streams, key=lambda m: json.loads(m.value)["ts"]))


def bad_input(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in
            (scenario(name) / "bad-input.jsonl").read_text().splitlines()]


def configured_resources(name: str) -> dict[int, list[str]]:
    """resource_key -> [type, natural key] for everything configuration knows."""
    rows = config_rows(name)
    resources = {person_key(r[0]): ["Agent", r[2]] for r in rows.get("cfg_person", [])}
    resources.update({dn_key(r[0]): [r[3], r[2]] for r in rows.get("cfg_dn", [])})
    return resources


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def natural(table: str, row: Mapping[str, Any], resources: Mapping[int, list[str]],
            results: Mapping[int, str], reasons: Mapping[int, str]) -> dict[str, Any]:
    """A fact row (column -> value) in the shape of ``expected.json``."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        value = _iso(value)
        if name in ("table", "version", "active_flag", "start_date_time_key",
                    "create_audit_key", "update_audit_key") or name.endswith("_id") and (
                name not in ("interaction_id", "consult_of_interaction_id")):
            continue
        if name in ("resource_key", "target_resource_key", "mediation_resource_key"):
            out[name.replace("_key", "")] = None if value is None else resources.get(value,
                                                                                  ["?", value])
        elif name == "technical_descriptor_key":
            out["result"] = results.get(value)
        elif name == "resource_state_reason_key":
            out["reason"] = reasons.get(value) if value is not None else None
        elif name in ("media_type_key", "interaction_type_key", "resource_state_key"):
            label = next(k for k, (col, _) in _CODES.items() if col == name)
            out[label] = _CODES[label][1].get(value)
        else:
            out[name] = value
    return out


def row_identity(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    if table == "interaction_fact":
        return (row["interaction_id"],)
    if table in ("mediation_segment_fact", "interaction_resource_fact"):
        return (row["interaction_id"], tuple(row["resource"]), row["start_ts"])
    return (tuple(row["resource"]), row["media"], row["start_ts"])


def compare(expected_rows: Mapping[str, list[dict[str, Any]]],
            actual_rows: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """Every difference, one line each: missing rows, extra rows, differing columns."""
    problems = []
    for table in FACT_TABLES:
        want = {row_identity(table, r): r for r in expected_rows[table]}
        have = {row_identity(table, r): r for r in actual_rows.get(table, [])}
        for ident in want.keys() - have.keys():
            problems.append(f"{table}: missing {ident}")
        for ident in have.keys() - want.keys():
            problems.append(f"{table}: extra {ident}: {have[ident]}")
        for ident in want.keys() & have.keys():
            for column, value in want[ident].items():
                if have[ident].get(column) != value:
                    problems.append(f"{table} {ident}: {column} = {have[ident].get(column)!r},"
                                    f" expected {value!r}")
    return problems


# ------------------------------------------------------------------ replay through the transforms
# (shared by the replay tests, the loader tests and the loader benchmark)

def config_view(name: str) -> Any:
    """The Stream Processor's view of the scenario's configuration, as GCA would publish it."""
    from gim_faust.transforms.config_view import ConfigView

    from gim_faust.gca import user_data_columns
    from gim_faust.gca.objects import USER_DATA_KEYS, build_objects

    view = ConfigView()
    for (kind, dbid), obj in build_objects(config_rows(name)).items():
        if kind == USER_DATA_KEYS:  # as GCA publishes them to a new Info Mart
            obj["keys"] = user_data_columns.plan(obj["keys"], {}).kept
        view.apply(kind, dbid, obj)
    return view


@dataclass
class RecordingRunner(Runner):
    """A :class:`Runner` that also keeps EVERY fact version it emits, in emission order:
    what the Stream Processor writes to the fact topic (the Runner's ``rows`` keep only the
    newest version of each row, as the loader does)."""

    emitted: list[Fact] = field(default_factory=list)

    def _emit(self, outcome: Outcome) -> None:
        self.emitted.extend(outcome.facts)
        super()._emit(outcome)


def replay(name: str, messages: list[Message], runner_class: Any = None) -> Any:
    """A :class:`Runner` (or ``runner_class``) fed the messages, then the bad input."""
    meta = expected(name)["meta"]
    runner = (runner_class or Runner)(config_view(name), meta["tenant"],
                                      meta["interaction_timeout_s"])
    for message in messages:
        runner.feed(f"acme.{message.topic_suffix}", message.value)
    for bad in bad_input(name):
        runner.feed(bad["topic"], bad["value"].encode())
    runner.finish()
    return runner


def fact_versions(name: str) -> list[Any]:
    """EVERY fact record the transforms emit for the scenario (delivered in event-time order),
    in emission order: every version of every row, placeholders and reason codes included.
    This is what the Stream Processor writes to the fact topic."""
    return list(replay(name, interleaved(name), RecordingRunner).emitted)


def resource_names(name: str, placeholders: Iterable[tuple[int, str, str]] = ()
                   ) -> dict[int, list[str]]:
    """resource_key -> [type, natural key]: configuration's resources (same key scheme as GCA,
    so this works whether or not GCA has run) plus ``(key, type, name)`` placeholder rows."""
    resources = configured_resources(name)
    resources.update({key: [kind, text] for key, kind, text in placeholders})
    return resources


def reason_codes(name: str, seen: Iterable[tuple[int, str]] = ()) -> dict[int, str]:
    """resource_state_reason_key -> reason_code: configuration's not-ready reasons plus the
    ``(key, code)`` pairs of ``seen`` (codes only events named)."""
    from gim_faust.transforms.keys import reason_key

    reasons = {reason_key(row[3]): row[3] for row in config_rows(name).get("cfg_enum_value", [])}
    reasons.update(dict(seen))
    return reasons


def natural_facts(name: str, facts: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Fact objects (newest versions, placeholders and reason codes included) in the shape of
    ``expected.json``, resolving keys through the scenario's configuration."""
    facts = list(facts)
    resources = configured_resources(name)
    reasons = {reason_key(row[3]): row[3] for row in config_rows(name).get("cfg_enum_value", [])}
    for fact in facts:
        if isinstance(fact, PlaceholderResource):
            resources[fact.resource_key] = [fact.resource_type, fact.resource_name]
        elif isinstance(fact, ReasonCode):
            reasons[fact.resource_state_reason_key] = fact.reason_code
    results = {v: k for k, v in TECHNICAL_RESULT.items()}
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in FACT_TABLES}
    for fact in facts:
        if fact.table in out:
            out[fact.table].append(natural(fact.table, to_record(fact), resources, results,
                                           reasons))
    return out


# ------------------------------------------------------------------ user data (contract v2)

def expected_user_data(name: str) -> dict[str, Any]:
    return json.loads((scenario(name) / "expected-user-data.json").read_text())


def user_data_identity(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (row["interaction_id"], tuple(row["resource"]), row["start_ts"])


def user_data_from_facts(name: str, facts: Iterable[Any]) -> list[dict[str, Any]]:
    """The irf_user_data rows the newest party versions make, as expected-user-data.json
    writes them (kept columns the party lacks are null)."""
    facts = list(facts)
    resources = configured_resources(name)
    resources.update({f.resource_key: [f.resource_type, f.resource_name] for f in facts
                      if isinstance(f, PlaceholderResource)})
    columns = [column for _, column, *_ in expected_user_data(name)["meta"]["user_data_keys"]]
    return [{"interaction_id": f.interaction_id, "resource": resources[f.resource_key],
             "start_ts": _iso(f.start_ts), **{c: f.user_data.get(c) for c in columns}}
            for f in facts if f.table == "interaction_resource_fact" and f.user_data
            and f.end_ts is not None]


def compare_user_data(name: str, actual: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every difference with expected-user-data.json: missing, extra, duplicate rows and
    differing values."""
    want = {user_data_identity(r): r for r in expected_user_data(name)["irf_user_data"]}
    actual = list(actual)
    have = {user_data_identity(r): r for r in actual}
    problems = [f"irf_user_data: {len(actual) - len(have)} duplicate rows"] * (
        len(actual) != len(have))
    problems += [f"irf_user_data: missing {i}" for i in want.keys() - have.keys()]
    problems += [f"irf_user_data: extra {i}: {have[i]}" for i in have.keys() - want.keys()]
    for ident in want.keys() & have.keys():
        problems += [f"irf_user_data {ident}: {column} = {have[ident].get(column)!r}, expected "
                     f"{value!r}" for column, value in want[ident].items()
                     if have[ident].get(column) != value]
    return problems
