"""User data (contract ``user-data.md``): which keys are kept, and what a value becomes.

An open interaction holds only the kept keys' current values, already converted to their
column's type and keyed by column, so its state stays small whatever upstream attaches and a
party that ends takes a copy as it is. The Config Adapter publishes only valid mappings
(``gca/user_data_columns.py``), so nothing here checks a mapping.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from gim_faust.models.events import UserDataValue

# What a converted value is on the fact record: text and numeric as strings (numeric exactly
# as decimal digits), integer as an int. None is never stored: the column is then NULL.
Converted = str | int

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_BIGINT = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, slots=True)
class KeptKey:
    """One row of ``cfg_user_data_key``: the column that holds the key, and its type."""

    column: str
    data_type: str  # text, integer or numeric
    max_length: int = 255


def convert(value: UserDataValue, kept: KeptKey) -> Converted | None:
    """The value its column holds (the table of ``user-data.md``); None: NULL."""
    if value is None:
        return None
    if kept.data_type == "text":
        return _text(value)[:kept.max_length]
    if kept.data_type == "integer":
        if isinstance(value, bool) or isinstance(value, float):
            return None
        number = value if isinstance(value, int) else (
            int(value) if _INTEGER.fullmatch(value) else None)
        return number if number is not None and _BIGINT[0] <= number <= _BIGINT[1] else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _decimal(value)
    return value if _DECIMAL.fullmatch(value) else None


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _decimal(value)
    return value


def _decimal(number: int | float) -> str:
    """An integer as its digits; another number as the shortest decimal that reads back as
    it (``repr`` gives those digits; ``Decimal`` writes them without an exponent)."""
    if isinstance(number, int):
        return str(number)
    digits = Decimal(repr(number))
    if digits == digits.to_integral_value():
        return str(int(digits))
    return format(digits.normalize(), "f")


def forget_unkept(held: dict[str, Converted], kept: Mapping[str, KeptKey]) -> None:
    """Drop the columns of mappings removed since they were filled: a party that ends after
    the removal leaves the column NULL (the column itself stays in the Info Mart)."""
    if held:
        columns = {mapping.column for mapping in kept.values()}
        for column in [c for c in held if c not in columns]:
            del held[column]


def merge(held: dict[str, Converted], given: Mapping[str, UserDataValue],
          kept: Mapping[str, KeptKey]) -> list[str]:
    """Apply an event's ``user_data`` to what the interaction holds (by column): a kept key
    takes its new value, ``null`` removes it. Returns the keys whose value became NULL by
    conversion, for ``gim_gsp_user_data_unconvertible_total``."""
    unconvertible = []
    for key, value in given.items():
        mapping = kept.get(key)
        if mapping is None:
            continue
        converted = convert(value, mapping)
        if converted is None:
            held.pop(mapping.column, None)
            if value is not None:
                unconvertible.append(key)
        else:
            held[mapping.column] = converted
    return unconvertible
