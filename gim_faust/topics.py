"""Kafka names, in one place: the contract's raw topics and the ones the project owns.

Internal names carry the prefix, so tenants sharing a cluster never meet. Renaming any of
them orphans state and offsets, so they are fixed here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

RAW_SUFFIXES = ("voice.interactions", "voice.agents", "digital.interactions", "digital.agents")
CHANNELS = ("voice", "digital")


@dataclass(frozen=True)
class Topics:
    prefix: str
    app_id: str | None = None   # the GSP's Faust app id, when not the default (GIM_GSP_APP_ID)

    def raw(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    @property
    def raw_all(self) -> tuple[str, ...]:
        return tuple(self.raw(s) for s in RAW_SUFFIXES)

    @property
    def interactions(self) -> tuple[str, ...]:
        return (self.raw("voice.interactions"), self.raw("digital.interactions"))

    @property
    def agents(self) -> tuple[str, ...]:
        return (self.raw("voice.agents"), self.raw("digital.agents"))

    @property
    def config(self) -> str:
        """Compacted; key ``<kind>:<dbid>``; written by GCA, read by the GSP."""
        return f"{self.prefix}.gca.config"

    @property
    def rejected(self) -> str:
        """Bad input, original bytes, reason in header ``gim-reject-reason``."""
        return f"{self.prefix}.gsp.rejected"

    @property
    def facts(self) -> str:
        """Fact and placeholder records; key ``<table>:<id>`` so a row's versions stay in
        one partition, in order."""
        return f"{self.prefix}.gsp.facts"

    def party_ended(self, channel: str) -> str:
        """Repartition topic of the after-call-work join of a channel, keyed by agent login
        and partitioned like ``<prefix>.<channel>.agents``. Internal to one GSP app, like its
        changelogs, so it carries the app id: a second app (a replay) never reads the first
        one's hand-offs."""
        return f"{self.gsp_app_id}-party-ended-{channel}"

    def changelog(self, table: str) -> str:
        """The changelog of one of the GSP's tables, named as Faust names it."""
        return f"{self.gsp_app_id}-{table}-changelog"

    @property
    def gsp_app_id(self) -> str:
        return self.app_id or f"gim-gsp-{self.prefix}"

    @property
    def loader_group(self) -> str:
        return f"gim-loader-{self.prefix}"
