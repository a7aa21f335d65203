"""What the event decoder may answer, shared by its own tests and the end-to-end properties."""

from __future__ import annotations

from gim_faust.models.codec import REASONS, Rejection
from gim_faust.models.events import AgentEvent, InteractionEvent


def assert_event_or_reason(result: object) -> None:
    """The only two outcomes decode may have: an event, or a rejection with a contract reason."""
    if isinstance(result, Rejection):
        assert result.reason in REASONS, result
        assert isinstance(result.detail, str)
    else:
        assert isinstance(result, (InteractionEvent, AgentEvent)), result
