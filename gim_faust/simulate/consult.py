"""Agents calling colleagues: internal calls and consultations (contract ``consultations.md``).

An idle voice agent now and then calls another idle one (an internal call; the day sets them
going). An agent about to end a customer call sometimes first consults a free colleague
(``SimOptions.consult`` of the calls, when a colleague is idle then): the customer goes on
hold and the agent dials the colleague on a new internal interaction whose first event names
the call in ``consult_of``. A colleague rarely lets such a call ring out: the agent hangs up
(the ringing party is abandoned) and goes back to the customer, or is free again. An
answered consultation ends in one of three ways, with the events the contract gives them:

- cancelled: both hang up, the agent takes the customer back and talks on;
- consult transfer: both leave the consultation with cause ``transfer``; on the call the agent
  leaves with cause ``transfer`` and the colleague appears with ``EventPartyChanged``, talks
  on and ends the call; the agent's after-call work follows its leaving both calls at once;
- conference: both leave the consultation with cause ``conference``; on the call the agent
  takes the customer back and the colleague joins with ``EventPartyAdded``; after a while one
  of them leaves, and the other talks on and ends the call.

A colleague is taken off the idle agents when the customer goes on hold, so nothing is
routed to it until the consultation, or the call it took over, is done.
"""

from __future__ import annotations

from typing import Any

from gim_faust.simulate.floor import Agent, Call, Floor

ENDING_WEIGHTS = (45, 35, 20)  # cancelled, consult transfer, conference
NO_ANSWER = 0.05  # of the calls from another agent that ring out
TALK_ON_SHARE = 0.4  # median talk after a consultation, as a share of the queue's median


class Consultation(Call):
    """An internal call about the customer call ``main``."""

    __slots__ = ("main",)

    def __init__(self, id: str, number: int, main: Call) -> None:
        super().__init__(id, "voice", number)
        self.main = main


class Colleagues(Floor):
    """The floor with agents who call each other; a customer call's hang-up may become a
    consultation first."""

    def _idle_colleague(self, agent: Agent) -> Agent | None:
        """The longest-idle voice agent (of the first queue that has one) but ``agent``."""
        return next((other for idle in self.idle.values() for other in idle
                     if other is not agent), None)

    # --- calling a colleague ----------------------------------------------------------------

    def _internal(self, agent: Agent) -> None:
        """An idle agent calls an idle colleague, when there is one."""
        colleague = self._idle_colleague(agent)
        if colleague is None:
            return
        self._unidle(agent)
        self._unidle(colleague)
        self._dial(self._new("int", "voice"), agent, colleague)

    def _dial(self, call: Call, agent: Agent, colleague: Agent, **first: Any) -> None:
        """``agent`` dials ``colleague`` (already taken off the idle agents) on ``call``."""
        self._call(call, "EventDialing", **self._party(agent), direction="internal", **first,
                   **{"from": agent.ext, "to": colleague.ext})
        self.at(self._uniform(0.2, 0.6), self._ring_colleague, call, agent, colleague)

    def _ring_colleague(self, call: Call, agent: Agent, colleague: Agent) -> None:
        self._call(call, "EventRinging", **self._party(colleague))
        if self.rng.random() < NO_ANSWER:
            self.at(self._uniform(15, 25), self._ring_out, call, agent, colleague)
        else:
            self.at(self._uniform(2, 6), self._colleague_answers, call, agent, colleague)

    def _colleague_answers(self, call: Call, agent: Agent, colleague: Agent) -> None:
        self._call(call, "EventEstablished", **self._party(colleague))
        self._call(call, "EventEstablished", **self._party(agent))
        if isinstance(call, Consultation):
            self.at(self._lognormal(45, 0.7, 5, 900), self._end_consultation, call, agent,
                    colleague)
        else:
            self.at(self._lognormal(60, 0.6, 10, 900), self._internal_done, call, agent,
                    colleague)

    def _ring_out(self, call: Call, agent: Agent, colleague: Agent) -> None:
        """The colleague did not answer: the agent hangs up, then is back with its customer
        or free."""
        self._call(call, "EventReleased", **self._party(agent), cause="normal")
        self._call(call, "EventAbandoned", **self._party(colleague))
        self._finish(call)
        self._free(colleague)
        if isinstance(call, Consultation):
            self._resume(call.main, agent)
        else:
            self._free(agent)

    def _release_both(self, call: Call, agent: Agent, colleague: Agent, cause: str) -> None:
        self._call(call, "EventReleased", **self._party(agent), cause=cause)
        self._call(call, "EventReleased", **self._party(colleague), cause=cause)
        self._finish(call)

    def _internal_done(self, call: Call, agent: Agent, colleague: Agent) -> None:
        self._release_both(call, agent, colleague, "normal")
        self._free(colleague)
        self._free(agent)

    # --- consultations ------------------------------------------------------------------------

    def _hang_up(self, call: Call, agent: Agent) -> None:
        """Before ending a customer call, the agent sometimes consults a free colleague."""
        colleague = None
        if call.queue is not None and not call.consulted and self.rng.random() < self.o.consult:
            colleague = self._idle_colleague(agent)
        if colleague is None:
            super()._hang_up(call, agent)
            return
        call.consulted = True
        self._unidle(colleague)
        self._party_event(call, agent, "EventHeld")
        self.at(self._uniform(0.3, 1.5), self._consult, call, agent, colleague)

    def _consult(self, main: Call, agent: Agent, colleague: Agent) -> None:
        """The customer on hold, the agent dials the colleague with the call's user data."""
        number = next(self._numbers)
        consult = Consultation(self.enc.interaction_id("cons", number), number, main)
        self._dial(consult, agent, colleague, consult_of=main.id,
                   user_data=dict(main.data) or None)

    def _end_consultation(self, consult: Consultation, agent: Agent, colleague: Agent) -> None:
        endings = (self._cancel, self._transfer_customer, self._conference)
        self.rng.choices(endings, ENDING_WEIGHTS)[0](consult, agent, colleague)

    def _cancel(self, consult: Consultation, agent: Agent, colleague: Agent) -> None:
        self._release_both(consult, agent, colleague, "normal")
        self._free(colleague)
        self._resume(consult.main, agent)

    def _transfer_customer(self, consult: Consultation, agent: Agent, colleague: Agent) -> None:
        """The colleague takes the customer over: the agent leaves both calls at once."""
        main = consult.main
        self._wrap_up(main, agent, transferred=True)
        self._call(main, "EventReleased", **self._party(agent), cause="transfer")
        self._call(main, "EventPartyChanged", **self._party(colleague),
                   from_interaction_id=consult.id)
        self._release_both(consult, agent, colleague, "transfer")
        self._after_call(agent)
        self._talk_on(main, colleague)

    def _conference(self, consult: Consultation, agent: Agent, colleague: Agent) -> None:
        """The colleague joins the call; one of the two leaves first, in either order."""
        main = consult.main
        self._party_event(main, agent, "EventRetrieved")
        self._call(main, "EventPartyAdded", **self._party(colleague),
                   from_interaction_id=consult.id)
        self._release_both(consult, agent, colleague, "conference")
        first, last = self.rng.sample((agent, colleague), 2)
        self.at(self._lognormal(90, 0.6, 10, 1800), self._leave_conference, main, first, last)

    def _leave_conference(self, main: Call, first: Agent, last: Agent) -> None:
        self._call(main, "EventReleased", **self._party(first), cause="normal")
        self._after_call(first)
        self._talk_on(main, last)

    def _resume(self, main: Call, agent: Agent) -> None:
        self._party_event(main, agent, "EventRetrieved")
        self._talk_on(main, agent)

    def _talk_on(self, main: Call, agent: Agent) -> None:
        """Talk for a while more, then hang up (a consulted call has no second consultation)."""
        queue = main.queue
        assert queue is not None  # only calls from a queue are consulted
        self._talk(main, agent, TALK_ON_SHARE * queue.talk_median_s)
