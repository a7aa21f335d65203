"""``gim-faust simulate``: the project's own contact-center simulator.

:func:`generate` turns :class:`SimOptions` into every raw event of a day, in event-time
order, exactly as the contract's upstream platforms write them (``events.md``);
:func:`write_configuration` writes the same contact center into a Configuration Database
(``config-db.sql``) for GCA to read. The same options always give the same day.

Size: with the defaults a voice agent-hour produces about 85-95 events (7 inbound calls of
about 11 events each with the agent's disposition, the agent's after-call work, breaks, the odd
outbound or internal call and consultation) and a digital agent-hour about 70 (chats and
emails of 7 events each); so a day is about 83-89 events per agent-hour: about 13,300 for the
default 20 agents and 8 hours, about 142,600 for 200 agents and about 1,135,000 for 1,600.
Generation runs at about 110,000 events a second on one core of the development machine (a
million events in about 9 s).
"""

from collections.abc import Iterator

from gim_faust.simulate.configdb_writer import write_configuration
from gim_faust.simulate.day import Simulation
from gim_faust.simulate.encode import SimMessage
from gim_faust.simulate.options import SimOptions

__all__ = ["SimMessage", "SimOptions", "generate", "write_configuration"]


def generate(options: SimOptions) -> Iterator[SimMessage]:
    """Every raw message of the day, in event-time order, deterministic for the options."""
    return Simulation(options).run()
