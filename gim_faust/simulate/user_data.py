"""The user data the simulated center attaches to its interactions (contract ``user-data.md``).

The routing strategy attaches the customer's segment, language and account on the first event
of an inbound call, chat or email; the agent who ends a customer interaction attaches a
disposition, sometimes a satisfaction score, and now and then removes the account (a ``null``
value) when the caller could not be verified. A consultation starts with a copy of its main
call's data, as voice platforms copy it. :data:`KEPT` says which keys the Info Mart keeps:
:mod:`~gim_faust.simulate.configdb_writer` writes it as ``cfg_user_data_key`` rows.

Every value is valid user data (a few short keys, short strings, integers), so no event of a
simulated day loses its ``user_data``.
"""

from __future__ import annotations

import random
from typing import Any

UserData = dict[str, Any]

# cfg_user_data_key: (key_name, column_name, data_type, max_length)
KEPT = (("CustomerSegment", "customer_segment", "text", 16),
        ("AccountId", "account_id", "integer", 255),
        ("Language", "language", "text", 8),
        ("Disposition", "disposition", "text", 32),
        ("CSAT", "csat", "numeric", 255))

SEGMENTS = (("Gold", 15), ("Silver", 35), ("Bronze", 50))
LANGUAGES = (("en", 60), ("es", 20), ("fr", 12), ("de", 8))
DISPOSITIONS = (("Resolved", 50), ("Information", 20), ("Callback", 12), ("Escalated", 8),
                ("Complaint", 5), ("Sale", 5))
TRANSFERRED = "Transferred"
ACCOUNT_AS_TEXT = 0.3   # IVRs that collect digits often attach them as a string
CSAT_SHARE = 0.25       # of wrap-ups with a survey score
UNVERIFIED = 0.04       # of wrap-ups that remove the account


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights)[0]


def customer(rng: random.Random) -> UserData:
    """What routing attaches to a new inbound interaction."""
    account = rng.randrange(10_000_000, 1_000_000_000)
    return {"CustomerSegment": _pick(rng, SEGMENTS), "Language": _pick(rng, LANGUAGES),
            "AccountId": str(account) if rng.random() < ACCOUNT_AS_TEXT else account}


def wrap_up(rng: random.Random, held: UserData, transferred: bool) -> UserData:
    """What the agent attaches when leaving a customer interaction that holds ``held``."""
    if transferred:
        return {"Disposition": TRANSFERRED}
    changes: UserData = {"Disposition": _pick(rng, DISPOSITIONS)}
    if rng.random() < CSAT_SHARE:
        changes["CSAT"] = rng.randint(1, 5)
    if "AccountId" in held and rng.random() < UNVERIFIED:
        changes["AccountId"] = None
    return changes


def merge(held: UserData, changes: UserData) -> None:
    """Apply ``changes`` as the contract merges them: a newer value wins, ``None`` removes."""
    for key, value in changes.items():
        if value is None:
            held.pop(key, None)
        else:
            held[key] = value
