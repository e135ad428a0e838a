"""Injected randomness.

Protocol cores never call a global random source: they take an :class:`Entropy`
so that tests can replay exactly (``SeededEntropy``) while production uses the
operating system's CSPRNG (``SystemEntropy``).  Branches, tags, Call-IDs, ICE
credentials, SSRCs and initial sequence numbers all come from here.
"""

from __future__ import annotations

import os
import random
import string
from typing import Protocol

_ALPHANUM = string.ascii_letters + string.digits


class Entropy(Protocol):
    """A source of random bytes."""

    def token_bytes(self, n: int) -> bytes: ...


class SystemEntropy:
    """Cryptographically strong randomness from the OS."""

    def token_bytes(self, n: int) -> bytes:
        return os.urandom(n)


class SeededEntropy:
    """Deterministic randomness for tests (NOT for production)."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)


def random_uint(entropy: Entropy, bits: int) -> int:
    """An unsigned integer of ``bits`` random bits."""
    return int.from_bytes(entropy.token_bytes((bits + 7) // 8), "big") & ((1 << bits) - 1)


def random_token(entropy: Entropy, length: int, alphabet: str = _ALPHANUM) -> str:
    """A string of ``length`` characters drawn from ``alphabet`` (default ``[A-Za-z0-9]``)."""
    data = entropy.token_bytes(length)
    n = len(alphabet)
    return "".join(alphabet[b % n] for b in data)
