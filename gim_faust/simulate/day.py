"""The day as a discrete-event simulation: a heap of timed actions, handled in time order.

:class:`Simulation` is the :class:`~gim_faust.simulate.floor.Floor` (with agents calling
colleagues, :class:`~gim_faust.simulate.consult.Colleagues`) and what the day brings to it.
Customers arrive (calls at routing points, chats and emails at interaction queues) at a rate
that follows a two-peak day, with user data that routing attaches; the IVR picks a queue.
Agents log in, take breaks, lunch and meetings with reasons, place outbound and internal calls
when idle, and log out at the end of the shift once their queues are empty.

Every action happens at the clock's current time, so events come out in event-time order
and each key's ``seq`` follows it. Everything random comes from one seeded generator.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator

from gim_faust.simulate import center, user_data
from gim_faust.simulate.center import Queue
from gim_faust.simulate.consult import Colleagues
from gim_faust.simulate.encode import SimMessage
from gim_faust.simulate.floor import SECOND, Agent, Call
from gim_faust.simulate.options import (
    CHATS_PER_DIGITAL_AGENT_HOUR,
    EMAILS_PER_DIGITAL_AGENT_HOUR,
)

MINUTE = 60_000


def _profile(x: float) -> float:
    """Relative arrival rate at fraction ``x`` of the day: a morning and an afternoon peak."""
    return (0.6 + 0.6 * math.exp(-((x - 0.3) / 0.12) ** 2)
            + 0.5 * math.exp(-((x - 0.68) / 0.12) ** 2))


_PROFILE_MEAN = sum(_profile((i + 0.5) / 1000) for i in range(1000)) / 1000
_PROFILE_PEAK = max(_profile(i / 1000) for i in range(1001))


class Simulation(Colleagues):
    def run(self) -> Iterator[SimMessage]:
        self._plan()
        heap, out = self.heap, self.out
        while heap:
            self.now, _, action, args = heapq.heappop(heap)
            action(*args)
            if out:
                yield from out
                out.clear()

    # --- the day's plan ---------------------------------------------------------------------

    def _plan(self) -> None:
        o = self.o
        for agent in self.voice + self.digital:
            self.at(self._uniform(0, 300), self._login, agent)
            for when, reason, length in self._breaks():
                self.at(when, self._break_due, agent, reason, length)
            self.at(self.end + self.rng.uniform(0, 120) * SECOND, self._shift_over, agent)
            if agent.ext is not None:
                self._tick(agent, self._outbound, o.outbound_per_agent_hour)
                self._tick(agent, self._internal, o.internal_per_agent_hour)
        digital = len(self.digital)
        self._next_arrival(self._voice_arrival, o.voice_rate)
        self._next_arrival(self._chat_arrival, digital * CHATS_PER_DIGITAL_AGENT_HOUR)
        self._next_arrival(self._email_arrival, digital * EMAILS_PER_DIGITAL_AGENT_HOUR)

    def _breaks(self) -> list[tuple[int, str, int]]:
        """Breaks at about a quarter and three quarters of the shift, lunch in the middle,
        sometimes a meeting or training: staggered so the floor is never empty."""
        hours, rng, plan = self.o.hours, self.rng, []
        for share, reason, low, high, min_hours in ((0.25, "Break", 10, 15, 2.5),
                                                     (0.5, "Lunch", 25, 35, 6.0),
                                                     (0.75, "Break", 10, 15, 5.0)):
            if hours >= min_hours:
                plan.append((share + rng.uniform(-0.06, 0.06), reason, low, high))
        if hours >= 3 and rng.random() < 0.3:
            plan.append((rng.uniform(0.15, 0.85), rng.choice(("Training", "Meeting")), 20, 45))
        hour_ms = 3_600_000 * hours
        return [(self.now + int(share * hour_ms), reason,
                 int(rng.uniform(low, high) * MINUTE)) for share, reason, low, high in plan]

    def _tick(self, agent: Agent, action: Callable[[Agent], None], per_hour: float) -> None:
        if per_hour > 0:
            when = self.now + int(self.rng.expovariate(per_hour) * 3_600_000)
            if when < self.end:
                self.at(when, self._ticked, agent, action, per_hour)

    def _ticked(self, agent: Agent, action: Callable[[Agent], None], per_hour: float) -> None:
        self._tick(agent, action, per_hour)
        if agent.status == "idle" and not agent.leaving:
            action(agent)

    def _next_arrival(self, action: Callable[[], None], per_hour: float) -> None:
        """The next arrival of a Poisson process whose rate follows the day profile around
        ``per_hour`` (thinning: candidates at the peak rate, kept in proportion)."""
        if per_hour <= 0:
            return
        peak = per_hour * _PROFILE_PEAK / _PROFILE_MEAN / 3_600_000
        start, length, t = self.o.start_ms, self.end - self.o.start_ms, float(self.now)
        while True:
            t += self.rng.expovariate(peak)
            if t >= self.end:
                return
            if self.rng.random() * _PROFILE_PEAK <= _profile((t - start) / length):
                self.at(t, self._arrived, action, per_hour)
                return

    def _arrived(self, action: Callable[[], None], per_hour: float) -> None:
        self._next_arrival(action, per_hour)
        action()

    # --- shifts -----------------------------------------------------------------------------

    def _login(self, agent: Agent) -> None:
        if agent.leaving:
            return
        self._agent(agent, "EventAgentLogin")
        agent.status, agent.phone = "away", "NOT_READY"
        self.at(self._uniform(10, 60), self._back, agent)

    def _break_due(self, agent: Agent, reason: str, length: int) -> None:
        if agent.leaving or agent.status == "off":
            return
        agent.break_due = (reason, length)
        if agent.status == "idle" or agent.ext is None and agent.status != "away":
            self._unidle(agent)
            self._free(agent)

    def _shift_over(self, agent: Agent) -> None:
        agent.leaving, agent.break_due = True, None
        if agent.status == "idle":
            self._unidle(agent)
            self._free(agent)
        elif agent.ext is None and agent.status == "working":
            self._free(agent)

    # --- inbound calls ------------------------------------------------------------------------

    def _voice_arrival(self) -> None:
        rng = self.rng
        point = rng.choices(center.ROUTING_POINTS, [p.share for p in center.ROUTING_POINTS])[0]
        call = self._new("call", "voice")
        self._call(call, "EventQueued", dn=point.number, direction="inbound",
                   **{"from": self._phone_number(), "to": point.number},
                   user_data=self._customer_data(call))
        if rng.random() < 0.01:  # hangs up in the IVR
            self.at(self._uniform(3, 15), self._ivr_abandon, call, point.number)
            return
        numbers, weights = zip(*point.queues, strict=True)
        queue = self.queues[rng.choices(numbers, weights)[0]]
        self.at(self._uniform(1.5, 6), self._ivr_done, call, point.number, queue)

    def _ivr_abandon(self, call: Call, point: str) -> None:
        self._call(call, "EventAbandoned", dn=point)
        self._finish(call)

    def _ivr_done(self, call: Call, point: str, queue: Queue) -> None:
        self._call(call, "EventDiverted", dn=point, target=queue.number)
        call.priority, call.deadline = self.now, self._lognormal(110, 0.9, 3)
        self._enqueue(call, queue)

    # --- outbound calls ---------------------------------------------------------------------------

    def _outbound(self, agent: Agent) -> None:
        self._unidle(agent)
        call = self._new("out", "voice")
        call.state = "ringing"
        self._call(call, "EventDialing", **self._party(agent), direction="outbound",
                   **{"from": agent.ext, "to": self._phone_number()})
        if self.rng.random() < 0.65:
            self.at(self._uniform(5, 20), self._answer, call, agent)
        else:
            self.at(self._uniform(15, 30), self._unanswered, call, agent)

    def _unanswered(self, call: Call, agent: Agent) -> None:
        self._call(call, "EventReleased", **self._party(agent), cause="normal")
        self._finish(call)
        self._free(agent)

    # --- chat and email -------------------------------------------------------------------------

    def _chat_arrival(self) -> None:
        call = self._new("chat", "chat")
        call.deadline = self._lognormal(180, 0.8, 10)
        self._digital_arrival(call, "9100", f"chat-customer-{self.rng.randrange(100_000)}")

    def _email_arrival(self) -> None:
        call = self._new("email", "email")
        self._digital_arrival(call, "9101", f"email-customer-{self.rng.randrange(100_000)}")

    def _digital_arrival(self, call: Call, number: str, customer: str) -> None:
        call.priority = self.now
        self._enqueue(call, self.queues[number], direction="inbound",
                      **{"from": customer, "to": number}, user_data=self._customer_data(call))

    def _customer_data(self, call: Call) -> user_data.UserData:
        """What routing attaches to the first event of a new customer interaction."""
        call.data = user_data.customer(self.rng)
        return call.data
