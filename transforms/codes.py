"""The static dimensions of the Info Mart: codes and their fixed keys.

The migration fills these tables from the same dictionaries, so a key in a fact always names
a row that exists.
"""

MEDIA_TYPE = {"VOICE": 1, "CHAT": 2, "EMAIL": 3}
INTERACTION_TYPE = {"INBOUND": 1, "OUTBOUND": 2, "INTERNAL": 3}
# The same keys by the events' own spelling (``media``, ``direction``), looked up per fact.
MEDIA_TYPE_OF = {name.lower(): key for name, key in MEDIA_TYPE.items()}
INTERACTION_TYPE_OF = {name.lower(): key for name, key in INTERACTION_TYPE.items()}
RESOURCE_STATE = {"READY": 1, "NOT_READY": 2, "AFTER_CALL_WORK": 3}
TECHNICAL_RESULT = {
    "COMPLETED": 1,
    "TRANSFERRED": 2,
    "REDIRECTED": 3,
    "DIVERTED": 4,
    "UNANSWERED": 5,
    "ABANDONED": 6,
    "CLEARED": 7,
    "TIMED_OUT": 8,
    "CONFERENCED": 9,
}
