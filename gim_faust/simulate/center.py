"""The simulated contact center's configuration: queues, routing points, agents, reasons.

One description serves two readers: the model routes calls with it, and
:mod:`gim_faust.simulate.configdb_writer` writes it as Configuration Database rows, so the events and
the configuration GCA reads always name the same DNs and logins.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gim_faust.simulate.options import SimOptions

VOICE_SWITCH, DIGITAL_SWITCH = "sip", "digital"


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue where interactions wait for an agent of its skill."""

    number: str
    name: str
    media: str  # voice, chat or email
    skill: str
    talk_median_s: float  # handling time of one interaction, median of a log-normal


@dataclass(frozen=True, slots=True)
class RoutingPoint:
    """Where inbound calls arrive; the IVR there picks a queue with these weights."""

    number: str
    name: str
    share: float  # of all inbound calls
    queues: tuple[tuple[str, float], ...]  # (queue number, weight)


@dataclass(frozen=True, slots=True)
class AgentSpec:
    index: int
    employee_id: str
    user_name: str
    first_name: str
    last_name: str
    login: str
    extension: str | None  # voice agents only
    skills: tuple[tuple[str, int], ...]  # (skill name, level)
    team: str

    @property
    def digital(self) -> bool:
        return self.extension is None


QUEUES = (
    Queue("8100", "Sales", "voice", "Sales", 200.0),
    Queue("8101", "Support", "voice", "Support", 280.0),
    Queue("8102", "Billing", "voice", "Billing", 170.0),
    Queue("9100", "Chat", "chat", "Chat", 330.0),
    Queue("9101", "Email", "email", "Email", 420.0),
)
VOICE_QUEUES = tuple(q for q in QUEUES if q.media == "voice")
ROUTING_POINTS = (
    RoutingPoint("8000", "Main line", 0.75, (("8100", 0.4), ("8101", 0.27), ("8102", 0.33))),
    RoutingPoint("8001", "Support line", 0.25, (("8101", 1.0),)),
)
# The share of inbound calls each voice queue gets from the routing points, and the share of
# the voice agents whose main skill it is: in proportion to the work (calls x talk time).
VOICE_SKILL_SHARE = {"Sales": 0.3, "Support": 0.45, "Billing": 0.25}
_WORK = {q.skill: VOICE_SKILL_SHARE[q.skill] * q.talk_median_s for q in VOICE_QUEUES}
STAFFING_SHARE = {skill: work / sum(_WORK.values()) for skill, work in _WORK.items()}
NOT_READY_REASONS = (("Break", "Short break"), ("Lunch", "Lunch"), ("Training", "Training"),
                     ("Meeting", "Team meeting"), ("NoAnswer", "Did not answer a call"))
TEAMS = ("Team North", "Team South")
DIGITAL_TEAM = "Digital Team"
DN_GROUPS = (("Voice queues", tuple(q.number for q in VOICE_QUEUES)),
             ("Digital queues", tuple(q.number for q in QUEUES if q.media != "voice")))
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines",
               "Jonas", "Keiko", "Luis", "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa",
               "Sami", "Tomas", "Uma", "Victor", "Wen", "Yara", "Zoe")
LAST_NAMES = ("Achebe", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat",
              "Ivanova", "Jensen", "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov",
              "Quispe", "Rossi", "Sato", "Tanaka", "Urban", "Virtanen", "Weber", "Yilmaz")


@dataclass(frozen=True)
class Center:
    agents: tuple[AgentSpec, ...]

    @property
    def voice_agents(self) -> tuple[AgentSpec, ...]:
        return tuple(a for a in self.agents if not a.digital)

    @property
    def digital_agents(self) -> tuple[AgentSpec, ...]:
        return tuple(a for a in self.agents if a.digital)


def _number(prefix: str, index: int, width: int) -> str:
    return f"{prefix}{index:0{width}d}"


def build(options: SimOptions) -> Center:
    """The center of ``options``: agent names and skills depend only on the seed and size."""
    rng = random.Random(f"center:{options.seed}")
    width = max(3, len(str(options.agents)))
    skills = list(VOICE_SKILL_SHARE)
    staffed = dict.fromkeys(skills, 0)
    agents = []
    for i in range(1, options.agents + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        digital = i > options.voice_agents
        own: tuple[tuple[str, int], ...]
        if digital:
            own = (("Chat", rng.randint(5, 10)), ("Email", rng.randint(5, 10)))
            extension, login, team = None, _number("6", i, width), DIGITAL_TEAM
        else:
            # primary skills in proportion to demand: the one furthest below its share next
            primary = max(skills, key=lambda s: STAFFING_SHARE[s] * i - staffed[s])
            staffed[primary] += 1
            own = ((primary, rng.randint(5, 10)),)
            if options.voice_agents < len(skills):
                own += tuple((s, rng.randint(1, 6)) for s in skills if s != primary)
            elif rng.random() < 0.5:
                second = rng.choice([s for s in skills if s != primary])
                own += ((second, rng.randint(1, 6)),)
            extension, login = _number("7", i, width), _number("5", i, width)
            team = TEAMS[i % len(TEAMS)]
        agents.append(AgentSpec(i, f"E{10000 + i}", f"{first}.{last}{i}".lower(), first, last,
                                login, extension, own, team))
    return Center(tuple(agents))
