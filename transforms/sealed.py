"""The JSON of the oldest items of an ordered sequence, kept so that they are not encoded
again each time the state around them is stored.

An agent's after-call-work join holds a day of history (11 KB on the bench's day), and a
light load stores the agent after nearly every event of it: encoding the whole history
every time was an eighth of a GSP worker's time. What lies far enough behind the agent's
stream rarely changes; its encodings are kept here, in one piece of bytes (a worker's heap
is large and scattered, and one piece is copied at memory speed where a hundred small ones
each cost a cache miss), and the owner of the sequence cuts them back (:meth:`Sealed.cut`,
:meth:`Sealed.keep`) wherever it changes, moves or removes an item they cover. The stored
bytes are the same as encoding everything anew: the unit tests compare the two after every
event.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from itertools import compress
from typing import TypeVar

T = TypeVar("T")


class Sealed:
    """The encodings of the first items of a sequence, comma-separated in ``json``; where
    each one ends in it, and each one's place in the sequence's order (the sequence is
    sorted by that place)."""

    __slots__ = ("json", "ends", "places")

    def __init__(self) -> None:
        self.json = b""
        self.ends: list[int] = []
        self.places: list[int] = []

    def __len__(self) -> int:
        return len(self.ends)

    def grow(self, items: Iterable[T], place: Callable[[T], int], ready: Callable[[T], bool],
             encode: Callable[[T], bytes]) -> None:
        """Seal the next ``items`` (the sequence from the first item not sealed yet) as
        long as they are ready."""
        added = []
        for item in items:
            if not ready(item):
                break
            added.append(encode(item))
            self.places.append(place(item))
        if added:
            end = len(self.json)
            for encoded in added:
                end += len(encoded) + (1 if end else 0)
                self.ends.append(end)
            self.json = b",".join([self.json, *added] if self.json else added)

    def cut(self, count: int) -> None:
        """Unseal every item from the ``count``-th on."""
        if count < len(self.ends):
            self.json = self.json[:self.ends[count - 1]] if count else b""
            del self.ends[count:], self.places[count:]

    def cut_after(self, place: int) -> None:
        """Unseal the items placed after ``place`` (one placed there goes after them)."""
        self.cut(bisect.bisect_right(self.places, place))

    def cut_from(self, place: int) -> None:
        """Unseal the items placed at ``place`` or after it."""
        self.cut(bisect.bisect_left(self.places, place))

    def keep(self, kept: Sequence[bool]) -> None:
        """The first ``len(kept)`` items were filtered by ``kept``: forget the removed ones."""
        count = min(len(kept), len(self.ends))
        if all(kept[:count]):
            return
        starts = [0, *(end + 1 for end in self.ends[:-1])]
        pieces = [self.json[start:end] for start, end in zip(starts, self.ends, strict=True)]
        flags = [*kept[:count], *[True] * (len(pieces) - count)]
        places = list(compress(self.places, flags))
        self.json, self.ends, self.places = b"", [], []
        self.grow(zip(compress(pieces, flags), places, strict=True), lambda item: item[1],
                  lambda _: True, lambda item: item[0])

    def joined(self, rest: bytes) -> bytes:
        """The JSON items of the whole sequence, comma-separated: the sealed ones, then
        ``rest`` (the others, encoded together, without their brackets)."""
        if self.json and rest:
            return b",".join((self.json, rest))
        return self.json or rest
