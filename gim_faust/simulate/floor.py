"""The contact center's floor: its agents and queues, and what becomes of a queued customer.

A queued customer goes to the longest-idle agent with the queue's skill, or waits, oldest
first, until one is free or their patience runs out (an abandon). An offered call rings; the
agent answers, or lets it ring until the call is taken back to the queue (ring-no-answer,
after which the agent is not ready for a while). Calls have holds, some are transferred to
another queue, most are followed by after-call work. Digital agents take up to two chats and
one email at a time. The agent who ends a customer interaction attaches a disposition to its
user data (:mod:`~gim_faust.simulate.user_data`).

:class:`Floor` holds the state of the simulation (the heap of timed actions, the seeded
generator, agents, queues) and the actions that only react to it. Agents calling colleagues
(internal calls, consultations) are :class:`~gim_faust.simulate.consult.Colleagues`, which
extends it; what sets them going, the day's arrivals and shifts and the agents' own calls, is
:class:`~gim_faust.simulate.day.Simulation`, which extends that.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from typing import Any

from gim_faust.simulate import center, user_data
from gim_faust.simulate.center import AgentSpec, Queue
from gim_faust.simulate.encode import Encoder, SimMessage
from gim_faust.simulate.options import SimOptions

SECOND = 1000
MAX_CHATS, MAX_EMAILS = 2, 1
# Where to look for a digital agent who can take one more chat or email: the (chats, emails)
# loads that leave room for it, least loaded first.
_ROOM = {"chat": sorted(((c, e) for c in range(MAX_CHATS) for e in range(MAX_EMAILS + 1)),
                        key=sum),
         "email": sorted(((c, e) for c in range(MAX_CHATS + 1) for e in range(MAX_EMAILS)),
                         key=sum)}
ACW_SHARE = 0.8  # of answered customer calls followed by after-call work


class Call:
    """A call, chat or email while the simulation follows it."""

    __slots__ = ("id", "media", "queue", "state", "priority", "deadline", "transferred",
                 "number", "data", "consulted")

    def __init__(self, id: str, media: str, number: int) -> None:
        self.id, self.media, self.number = id, media, number
        self.queue: Queue | None = None
        self.state = "new"  # waiting, routing, ringing, talking, done
        self.priority = 0
        self.deadline: int | None = None  # when the customer gives up waiting
        self.transferred = False
        self.data: user_data.UserData = {}  # its user data as the events so far made it
        self.consulted = False  # a customer call that had its consultation: one is enough


class Agent:
    """An agent's working state; ``phone`` is the state the agent last reported."""

    __slots__ = ("login", "ext", "queues", "status", "phone", "break_due", "leaving",
                 "chats", "emails")

    def __init__(self, spec: AgentSpec, queues: tuple[str, ...]) -> None:
        self.login, self.ext, self.queues = spec.login, spec.extension, queues
        # off; away (not ready); idle (voice: ready, nothing in hand); working (voice: busy
        # with a call; digital: ready, taking up to MAX_CHATS chats and MAX_EMAILS emails)
        self.status = "off"
        self.phone = "NOT_READY"
        self.break_due: tuple[str, int] | None = None
        self.leaving = False
        self.chats = self.emails = 0


class Floor:
    def __init__(self, options: SimOptions) -> None:
        self.o = options
        self.rng = random.Random(options.seed)
        self.enc = Encoder(options.tenant, options.start_ms, options.seed)
        self.now = options.start_ms
        self.end = options.end_ms
        self.heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self.out: list[SimMessage] = []
        self._order = itertools.count()
        self._numbers = itertools.count(1)
        self.queues = {q.number: q for q in center.QUEUES}
        self.waiting: dict[str, list[tuple[int, int, Call]]] = {q: [] for q in self.queues}
        self.idle: dict[str, dict[Agent, None]] = {q.number: {} for q in center.VOICE_QUEUES}
        by_skill = {q.skill: q.number for q in center.QUEUES}
        built = center.build(options)
        self.voice = [Agent(a, tuple(by_skill[s] for s, _ in a.skills))
                      for a in built.voice_agents]
        self.digital = [Agent(a, ()) for a in built.digital_agents]
        # digital agents by (chats, emails) in hand, each in the order it got that load
        self.loads: dict[tuple[int, int], dict[Agent, None]] = {
            (c, e): {} for c in range(MAX_CHATS + 1) for e in range(MAX_EMAILS + 1)}
        self.loads[0, 0].update(dict.fromkeys(self.digital))

    # --- plumbing ---------------------------------------------------------------------------

    def at(self, ms: float, action: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self.heap, (int(ms), next(self._order), action, args))

    def _uniform(self, low_s: float, high_s: float) -> int:
        """An instant between ``low_s`` and ``high_s`` seconds from now."""
        return self.now + int(self.rng.uniform(low_s, high_s) * SECOND)

    def _lognormal(self, median_s: float, sigma: float, low_s: float = 1.0,
                   high_s: float = 7200.0) -> int:
        """An instant a log-normal time from now (``median_s``, kept within bounds)."""
        value = median_s * math.exp(self.rng.gauss(0.0, sigma))
        return self.now + int(min(max(value, low_s), high_s) * SECOND)

    def _call(self, call: Call, kind: str, **fields: Any) -> None:
        self.out.append(self.enc.interaction(self.now, kind, call.media, call.id, **fields))

    def _agent(self, agent: Agent, kind: str, **fields: Any) -> None:
        if agent.ext is not None:
            self.out.append(self.enc.agent(self.now, kind, "voice", agent.login, agent.ext,
                                           **fields))
            return
        for media in ("chat", "email"):
            self.out.append(self.enc.agent(self.now, kind, media, agent.login, **fields))

    def _new(self, kind: str, media: str) -> Call:
        number = next(self._numbers)
        return Call(self.enc.interaction_id(kind, number), media, number)

    def _phone_number(self) -> str:
        return f"+1555{self.rng.randrange(10_000_000):07d}"

    # --- agents -----------------------------------------------------------------------------

    def _take_break(self, agent: Agent) -> None:
        reason, length = agent.break_due  # type: ignore[misc]
        agent.break_due = None
        self._agent(agent, "EventAgentNotReady", reason=reason)
        agent.status, agent.phone = "away", "NOT_READY"
        self.at(self.now + length, self._back, agent)

    def _back(self, agent: Agent) -> None:
        agent.status = "working"
        self._free(agent)

    def _ready(self, agent: Agent) -> None:
        if agent.phone != "READY":
            self._agent(agent, "EventAgentReady")
            agent.phone = "READY"

    def _free(self, agent: Agent) -> None:
        """The agent has nothing in hand (voice) or may take more (digital): next step."""
        if agent.ext is None:
            self._free_digital(agent)
            return
        call = self._oldest_waiting(agent.queues)
        if agent.leaving and call is None:
            self._logout(agent)
        elif agent.break_due is not None and (call is None or self._break_cannot_wait()):
            if call is not None:
                self._requeue_head(call)
            self._take_break(agent)
        else:
            self._ready(agent)
            if call is None:
                agent.status = "idle"
                for number in agent.queues:
                    self.idle[number][agent] = None
            else:
                agent.status = "working"
                self._route(call, agent)

    def _break_cannot_wait(self) -> bool:
        """A due break waits behind queued calls, but not for ever: a third of the time the
        agent goes anyway (breaks are scheduled, queues or not)."""
        return self.rng.random() < 0.33

    def _unidle(self, agent: Agent) -> None:
        for number in agent.queues:
            self.idle[number].pop(agent, None)
        agent.status = "working"

    def _logout(self, agent: Agent) -> None:
        self._agent(agent, "EventAgentLogout")
        agent.status, agent.phone = "off", "OFF"

    # --- queues -------------------------------------------------------------------------------

    def _enqueue(self, call: Call, queue: Queue, **first: Any) -> None:
        """Queue ``call`` (``first``: the fields of an interaction's first event)."""
        self._call(call, "EventQueued", dn=queue.number, **first)
        call.queue, call.state = queue, "waiting"
        if call.deadline is not None:
            self.at(call.deadline, self._patience, call)
        agent = self._free_agent(queue)
        if agent is None:
            heapq.heappush(self.waiting[queue.number], (call.priority, call.number, call))
        else:
            self._route(call, agent)

    def _free_agent(self, queue: Queue) -> Agent | None:
        if queue.media == "voice":
            idle = self.idle[queue.number]
            if not idle:
                return None
            agent = next(iter(idle))  # the longest idle
            self._unidle(agent)
            return agent
        for load in _ROOM[queue.media]:
            for agent in self.loads[load]:
                if agent.status == "working" and agent.break_due is None:
                    return agent
        return None

    def _can_take(self, agent: Agent, media: str) -> bool:
        if agent.status != "working" or agent.break_due is not None:
            return False
        return agent.chats < MAX_CHATS if media == "chat" else agent.emails < MAX_EMAILS

    def _oldest_waiting(self, numbers: tuple[str, ...]) -> Call | None:
        best: list[tuple[int, int, Call]] | None = None
        for number in numbers:
            heap = self.waiting[number]
            while heap and heap[0][2].state != "waiting":
                heapq.heappop(heap)
            if heap and (best is None or heap[0] < best[0]):
                best = heap
        return heapq.heappop(best)[2] if best else None

    def _requeue_head(self, call: Call) -> None:
        heapq.heappush(self.waiting[call.queue.number],  # type: ignore[union-attr]
                       (call.priority, call.number, call))

    def _patience(self, call: Call) -> None:
        if call.state == "waiting" and self.now >= call.deadline:  # type: ignore[operator]
            self._call(call, "EventAbandoned", dn=call.queue.number)  # type: ignore[union-attr]
            self._finish(call)

    def _finish(self, call: Call) -> None:
        call.state = "done"
        self.at(self._uniform(0.01, 0.2), self._ended, call)

    def _ended(self, call: Call) -> None:
        self._call(call, "EventInteractionEnded")

    def _route(self, call: Call, agent: Agent) -> None:
        call.state = "routing"
        if agent.ext is None:
            self._load(agent, call.media, +1)
        self.at(self._uniform(0.15, 1.2), self._offer, call, agent)

    # --- offer, answer, talk, hang up ---------------------------------------------------------

    def _offer(self, call: Call, agent: Agent) -> None:
        queue = call.queue
        if agent.ext is None:
            self._call(call, "EventDiverted", dn=queue.number, target=agent.login)  # type: ignore[union-attr]
            self._call(call, "EventRinging", agent_login=agent.login)
            answer = self._lognormal(6 if call.media == "chat" else 25, 0.6, 1, 120)
        else:
            self._call(call, "EventDiverted", dn=queue.number, target=agent.ext)  # type: ignore[union-attr]
            self._call(call, "EventRinging", dn=agent.ext, agent_login=agent.login)
            answer = self._lognormal(4, 0.4, 1, 11)
        call.state = "ringing"
        if self.rng.random() < self.o.ring_no_answer:
            answer = self._uniform(12, 16) if agent.ext else self._uniform(25, 35)
            action = self._no_answer
        else:
            action = self._answer
        if call.deadline is not None and call.deadline < answer:
            self.at(max(call.deadline, self.now + 500), self._ring_abandon, call, agent)
        else:
            self.at(answer, action, call, agent)

    def _party(self, agent: Agent) -> dict[str, str | None]:
        return {"dn": agent.ext, "agent_login": agent.login}

    def _party_event(self, call: Call, agent: Agent, kind: str) -> None:
        self._call(call, kind, **self._party(agent))

    def _wrap_up(self, call: Call, agent: Agent, transferred: bool = False) -> None:
        """The agent leaving a customer interaction records how it went in its user data."""
        changes = user_data.wrap_up(self.rng, call.data, transferred)
        self._call(call, "EventAttachedDataChanged", **self._party(agent), user_data=changes)
        user_data.merge(call.data, changes)

    def _ring_abandon(self, call: Call, agent: Agent) -> None:
        self._call(call, "EventAbandoned", **self._party(agent))
        self._finish(call)
        self._done_with(call, agent)

    def _no_answer(self, call: Call, agent: Agent) -> None:
        self._call(call, "EventReleased", **self._party(agent), cause="redirect")
        if agent.ext is not None:  # the voice platform sets the agent not ready
            self._agent(agent, "EventAgentNotReady", reason="NoAnswer")
            agent.status, agent.phone = "away", "NOT_READY"
            self.at(self._uniform(30, 90), self._back, agent)
        if call.deadline is not None and call.deadline < self.now + 5 * SECOND:
            call.deadline = self._uniform(5, 40)
        self.at(self._uniform(0.05, 0.3), self._back_to_queue, call, agent)

    def _back_to_queue(self, call: Call, agent: Agent) -> None:
        self._enqueue(call, call.queue)  # type: ignore[arg-type]
        if agent.ext is None:  # released only now, so it cannot log out with an email unqueued
            self._done_with(call, agent)

    def _answer(self, call: Call, agent: Agent) -> None:
        self._call(call, "EventEstablished", **self._party(agent))
        call.state = "talking"
        if agent.ext is None:
            self.at(self._lognormal(call.queue.talk_median_s, 0.6, 20), self._digital_done,  # type: ignore[union-attr]
                    call, agent)
        else:
            median = call.queue.talk_median_s if call.queue else 120  # outbound: no queue
            self._talk(call, agent, median)

    def _talk(self, call: Call, agent: Agent, median_s: float) -> None:
        """Talk with 0-3 holds spread over it, then hang up."""
        rng = self.rng
        talk = self._lognormal(median_s, 0.55, 10) - self.now
        holds = rng.choices((0, 1, 2, 3), (60, 27, 10, 3))[0]
        cuts = sorted(rng.random() for _ in range(holds))
        t, last = self.now, 0.0
        for cut in cuts:
            t += int((cut - last) * talk)
            last = cut
            self.at(t, self._party_event, call, agent, "EventHeld")
            t += int(min(max(35 * math.exp(rng.gauss(0, 0.5)), 5), 300) * SECOND)
            self.at(t, self._party_event, call, agent, "EventRetrieved")
        self.at(t + int((1 - last) * talk), self._hang_up, call, agent)

    def _hang_up(self, call: Call, agent: Agent) -> None:
        others = [q for q in center.VOICE_QUEUES if q is not call.queue]
        transfer = (call.queue is not None and not call.transferred
                    and self.rng.random() < self.o.transfer)
        self._wrap_up(call, agent, transfer)
        if transfer:
            self._call(call, "EventReleased", **self._party(agent), cause="transfer")
            call.transferred = True
            call.priority, call.deadline = self.now, self._lognormal(90, 0.9, 3)
            self.at(self._uniform(0.1, 0.6), self._enqueue, call, self.rng.choice(others))
        else:
            self._call(call, "EventReleased", **self._party(agent), cause="normal")
            self._finish(call)
        self._after_call(agent)

    def _after_call(self, agent: Agent) -> None:
        if self.rng.random() < ACW_SHARE:
            self.at(self._uniform(0.1, 2), self._after_call_work, agent)
        else:
            self._free(agent)

    def _after_call_work(self, agent: Agent) -> None:
        self._agent(agent, "EventAgentNotReady", workmode="AfterCallWork")
        agent.phone = "AFTER_CALL_WORK"
        self.at(self._lognormal(25, 0.6, 3, 600), self._free, agent)

    # --- chat and email -------------------------------------------------------------------------

    def _digital_done(self, call: Call, agent: Agent) -> None:
        self._wrap_up(call, agent)
        self._call(call, "EventReleased", agent_login=agent.login, cause="normal")
        self._finish(call)
        self._done_with(call, agent)

    def _done_with(self, call: Call, agent: Agent) -> None:
        """The agent no longer holds ``call`` (ended, abandoned or not answered)."""
        if agent.ext is not None:
            self._free(agent)
            return
        self._load(agent, call.media, -1)
        if agent.status == "working":
            self._free(agent)

    def _load(self, agent: Agent, media: str, change: int) -> None:
        del self.loads[agent.chats, agent.emails][agent]
        if media == "chat":
            agent.chats += change
        else:
            agent.emails += change
        self.loads[agent.chats, agent.emails][agent] = None

    def _free_digital(self, agent: Agent) -> None:
        if agent.break_due is not None:
            self._take_break(agent)
            return
        self._ready(agent)
        agent.status = "working"
        for number, media in (("9100", "chat"), ("9101", "email")):
            while self._can_take(agent, media):
                call = self._oldest_waiting((number,))
                if call is None:
                    break
                self._route(call, agent)
        if agent.leaving and agent.chats + agent.emails == 0:
            self._logout(agent)
