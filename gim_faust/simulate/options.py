"""What a simulated day looks like: size, length, load, seed and start.

Options are plain values, so the same options always give the same day; only the default start
reads the clock, once, when the options are made. Publishing speed is not an option of the
day: it belongs to the publisher.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gim_faust.models.events import to_ms

# A voice agent handles a call in about 320 s on average (talk, hold and after-call work,
# see floor.py) and is away from the phones about 15% of a shift (breaks, lunch, meetings).
# At the default rate, voice agents are busy about 70% of the time they are ready; the morning
# and afternoon peaks go past what they can take, so queues build up then.
DEFAULT_CALLS_PER_VOICE_AGENT_HOUR = 7.0
CHATS_PER_DIGITAL_AGENT_HOUR = 7.0
EMAILS_PER_DIGITAL_AGENT_HOUR = 2.5
MAX_AGENTS = 100_000


def _yesterday_8am() -> datetime:
    today = datetime.now(timezone.utc).replace(hour=8, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


@dataclass(frozen=True)
class SimOptions:
    """One simulated contact-center day of ``tenant``.

    ``agents`` counts voice and digital agents together; ``digital_share`` of them (rounded)
    handle chat and email, the rest take calls. ``calls_per_hour`` is the mean rate of
    inbound calls over the day (None: sized to the voice agents, see
    :data:`DEFAULT_CALLS_PER_VOICE_AGENT_HOUR`); arrivals follow a two-peak day profile
    around that mean. ``start`` (UTC) is when the first shift begins: None means 08:00 UTC
    yesterday, fixed when the options are made.
    """

    tenant: str
    agents: int = 20
    hours: float = 8.0
    calls_per_hour: float | None = None
    seed: int = 1
    start: datetime | None = None
    digital_share: float = 0.2
    outbound_per_agent_hour: float = 0.5
    internal_per_agent_hour: float = 0.3
    ring_no_answer: float = 0.03
    transfer: float = 0.06
    consult: float = 0.1  # of answered customer calls, when a colleague is idle then

    def __post_init__(self) -> None:
        if not 1 <= self.agents <= MAX_AGENTS:
            raise ValueError(f"agents must be between 1 and {MAX_AGENTS}")
        if not 0 < self.hours <= 24:
            raise ValueError("hours must be more than 0 and at most 24")
        if self.calls_per_hour is not None and self.calls_per_hour < 0:
            raise ValueError("calls_per_hour must be 0 or more")
        for name in ("digital_share", "ring_no_answer", "transfer", "consult"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("outbound_per_agent_hour", "internal_per_agent_hour"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        start = self.start or _yesterday_8am()
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        object.__setattr__(self, "start", start.astimezone(timezone.utc))

    @property
    def digital_agents(self) -> int:
        """How many agents handle chat and email (at least one voice agent remains)."""
        return min(self.agents - 1, round(self.agents * self.digital_share))

    @property
    def voice_agents(self) -> int:
        return self.agents - self.digital_agents

    @property
    def voice_rate(self) -> float:
        """Mean inbound calls per hour."""
        if self.calls_per_hour is not None:
            return self.calls_per_hour
        return self.voice_agents * DEFAULT_CALLS_PER_VOICE_AGENT_HOUR

    @property
    def start_ms(self) -> int:
        return to_ms(self.start)  # type: ignore[arg-type]

    @property
    def end_ms(self) -> int:
        """When arrivals stop and shifts end (agents still finish what is waiting)."""
        return self.start_ms + round(self.hours * 3_600_000)
