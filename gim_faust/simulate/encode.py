"""Raw events as the contract writes them (``events.md``): envelope, keys, ``seq``, ``ts``.

``seq`` counts per key in the order events are encoded, which is event-time order. Interaction
ids and event ids carry a tag of the day (start and seed), so two simulated days never share
one. An agent login lives on from day to day, so its ``seq`` starts at the day's start in Unix
milliseconds: a later day of the same logins continues each login's sequence instead of
looking like repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One raw message: topic (``RAW_SUFFIXES``), key, JSON value and its event time."""

    topic_suffix: str
    key: bytes
    value: bytes
    ts_ms: int


class Encoder:
    def __init__(self, tenant: str, start_ms: int, seed: int) -> None:
        self.tenant = tenant
        start = datetime.fromtimestamp(start_ms / 1000, timezone.utc)
        self.tag = f"{start:%Y%m%d%H%M}s{seed}"
        self._agent_seq_base = start_ms
        self._seq: dict[str, int] = {}
        self._count = 0
        self._minute = -1
        self._minute_text = ""

    def interaction_id(self, kind: str, number: int) -> str:
        return f"{kind}-{self.tag}-{number}"

    def timestamp(self, ms: int) -> str:
        """RFC 3339 UTC with milliseconds. This runs for every event, and events come in time
        order, so the text up to the minute is kept from the previous call."""
        minute, rest = divmod(ms, 60_000)
        if minute != self._minute:
            self._minute = minute
            self._minute_text = datetime.fromtimestamp(minute * 60, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:")
        seconds, millis = divmod(rest, 1000)
        return f"{self._minute_text}{seconds:02d}.{millis:03d}Z"

    def _event(self, suffix: str, key: str, first_seq: int, ms: int, kind: str, media: str,
               fields: dict[str, Any]) -> SimMessage:
        seq = self._seq.get(key, first_seq - 1) + 1
        self._seq[key] = seq
        self._count += 1
        event = {"event_id": f"{self.tag}-{self._count}", "type": kind,
                 "ts": self.timestamp(ms), "tenant": self.tenant, "media": media, "seq": seq}
        event.update(fields)
        return SimMessage(suffix, key.encode(), orjson.dumps(event), ms)

    def interaction(self, ms: int, kind: str, media: str, interaction_id: str,
                    **fields: Any) -> SimMessage:
        """An interaction event; ``fields`` (dn, agent_login, direction, from, to, cause,
        target, consult_of, from_interaction_id, user_data) are written in the order given,
        None ones left out."""
        suffix = "voice.interactions" if media == "voice" else "digital.interactions"
        body = {"interaction_id": interaction_id}
        body.update((k, v) for k, v in fields.items() if v is not None)
        return self._event(suffix, interaction_id, 1, ms, kind, media, body)

    def agent(self, ms: int, kind: str, media: str, login: str, dn: str | None = None,
              **fields: Any) -> SimMessage:
        suffix = "voice.agents" if media == "voice" else "digital.agents"
        body = {"agent_login": login}
        if dn is not None:
            body["dn"] = dn
        body.update((k, v) for k, v in fields.items() if v is not None)
        return self._event(suffix, login, self._agent_seq_base, ms, kind, media, body)
