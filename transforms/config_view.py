"""The Stream Processor's view of configuration: login codes and DN numbers to resources.

Built from the objects the Config Adapter publishes (``<prefix>.gca.config``), one record at
a time, so it can follow deletions too. An endpoint configuration does not know is not an
error (contract ``events.md``, "Resolving endpoints"): it resolves to a placeholder resource,
and the caller emits that placeholder so the loader can add it to ``resource_``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gim_faust.transforms.keys import (
    UNKNOWN_AGENT_LOGIN,
    UNKNOWN_DN,
    dn_key,
    person_key,
    placeholder_key,
)
from gim_faust.transforms.user_data import KeptKey

from gim_faust.models.facts import PlaceholderResource
from gim_faust.models.record import record

# Object kinds published by the Config Adapter that the view reads; the rest it ignores.
AGENT_LOGIN = "agent_login"
DN = "dn"
ENUM_VALUE = "enum_value"
NOT_READY_REASON = "NotReadyReason"
USER_DATA_KEYS = "user_data_keys"  # one object: the valid mappings of cfg_user_data_key


@record
class Endpoint:
    """A resolved endpoint: its ``resource_key``, the configured DN type (None for persons and
    placeholders) and, when configuration lacks it, the placeholder row to emit."""

    resource_key: int
    dn_type: str | None = None
    placeholder: PlaceholderResource | None = None


@dataclass
class ConfigView:
    logins: dict[str, int] = field(default_factory=dict)          # login code -> person dbid
    dns: dict[str, tuple[int, str]] = field(default_factory=dict)  # number -> (dbid, type)
    reasons: set[str] = field(default_factory=set)
    kept: dict[str, KeptKey] = field(default_factory=dict)  # user-data key -> its column
    _by_dbid: dict[tuple[str, int], str] = field(default_factory=dict)

    def apply(self, kind: str, dbid: int, obj: dict[str, Any] | None) -> None:
        """Follow one published object (``obj`` None: deleted)."""
        old = self._by_dbid.pop((kind, dbid), None)
        if old is not None:
            if kind == AGENT_LOGIN:
                self.logins.pop(old, None)
            elif kind == DN:
                self.dns.pop(old, None)
            elif kind == ENUM_VALUE:
                self.reasons.discard(old)
        if kind == USER_DATA_KEYS:
            self.kept = {key: KeptKey(**mapping)
                         for key, mapping in (obj or {}).get("keys", {}).items()}
        if obj is None:
            return
        if kind == AGENT_LOGIN and obj.get("person_dbid") is not None:
            self.logins[obj["login_code"]] = obj["person_dbid"]
            self._by_dbid[(kind, dbid)] = obj["login_code"]
        elif kind == DN:
            self.dns[obj["number"]] = (dbid, obj["type"])
            self._by_dbid[(kind, dbid)] = obj["number"]
        elif kind == ENUM_VALUE and obj.get("enum") == NOT_READY_REASON:
            self.reasons.add(obj["name"])
            self._by_dbid[(kind, dbid)] = obj["name"]

    def agent(self, login_code: str) -> Endpoint:
        person = self.logins.get(login_code)
        if person is not None:
            return Endpoint(person_key(person))
        return _placeholder(UNKNOWN_AGENT_LOGIN, login_code)

    def dn(self, number: str) -> Endpoint:
        known = self.dns.get(number)
        if known is not None:
            return Endpoint(dn_key(known[0]), known[1])
        return _placeholder(UNKNOWN_DN, number)

    def knows_login(self, login_code: str) -> bool:
        return login_code in self.logins


def _placeholder(resource_type: str, name: str) -> Endpoint:
    key = placeholder_key(resource_type, name)
    return Endpoint(key, None, PlaceholderResource(key, resource_type, name))
