"""One error tree for the whole product.

    GimError
    ├── RetriableError   a dependency is down or busy: back off, commit nothing, try again
    ├── BadInputError    one input is wrong: reject it (with a reason), keep going
    └── FatalError       the process cannot do its job as configured: stop with a message
        └── ConfigError  a setting is missing or malformed: exit 2 with one line

Services decide what to do by class, never by message text.
"""


class GimError(Exception):
    """Base of every error this package raises on purpose."""


class RetriableError(GimError):
    """A transient failure (database restarting, broker unreachable): retry with back-off."""


class BadInputError(GimError):
    """One input record is unusable; ``reason`` is the contract's rejection code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class FatalError(GimError):
    """The process cannot continue; the message says what the operator should do."""


class ConfigError(FatalError):
    """A bad setting: the command exits 2 with this one-line message."""
