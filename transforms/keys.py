"""Deterministic keys shared by the Config Adapter, the Stream Processor and the loader.

``resource_key`` must be the same whoever computes it, and forever, so facts written before
configuration knew an endpoint stay joinable. The scheme:

- a person (type ``Agent``):            1_000_000_000_000 + cfg_person.dbid
- a DN (``Extension``, ``ACDQueue``...): 2_000_000_000_000 + cfg_dn.dbid
- a placeholder (``UnknownAgentLogin`` or ``UnknownDN``): 3 * 10**17 + a 56-bit BLAKE2b digest
  of ``"<type>:<name>"``, so it needs no counter and no coordination.

Group, skill and not-ready-reason keys follow the same idea: dbids where configuration has
them, a digest where the only identity is a code seen in events.
"""

from __future__ import annotations

from hashlib import blake2b

PERSON_BASE = 1_000_000_000_000
DN_BASE = 2_000_000_000_000
PLACEHOLDER_BASE = 3 * 10**17
UNKNOWN_AGENT_LOGIN = "UnknownAgentLogin"
UNKNOWN_DN = "UnknownDN"


def _digest(text: str, bits: int) -> int:
    value = int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big")
    return value >> (64 - bits)


def person_key(person_dbid: int) -> int:
    return PERSON_BASE + person_dbid


def dn_key(dn_dbid: int) -> int:
    return DN_BASE + dn_dbid


def placeholder_key(resource_type: str, name: str) -> int:
    """Key of the placeholder resource for a login code or DN number configuration lacks."""
    return PLACEHOLDER_BASE + _digest(f"{resource_type}:{name}", 56)


def reason_key(reason_code: str) -> int:
    """Key of a not-ready reason: the same for the configured enum value and for a code seen
    only in events, so the two never make two rows."""
    return _digest(f"NotReadyReason:{reason_code}", 62)


def date_time_key(ts_ms: int) -> int:
    """Unix seconds of the start of the 15-minute UTC interval holding ``ts_ms``."""
    return (ts_ms // 900_000) * 900
