"""How the Info Mart turns milliseconds into its whole-second figures (contract README)."""


def seconds(ms: int) -> int:
    """Whole seconds of a millisecond total, rounded half up, never negative."""
    return max(0, (ms + 500) // 1000)
