"""Identifiers drawn from injected entropy: Via branches, tags, Call-IDs (RFC 3261 §8.1.1)."""

from __future__ import annotations

from wcs.entropy import Entropy, random_token

MAGIC_COOKIE = "z9hG4bK"
"""Prefix of every RFC 3261 branch (§8.1.1.7)."""


def new_branch(entropy: Entropy) -> str:
    """A fresh Via branch: the magic cookie and 16 random alphanumerics (~95 bits)."""
    return MAGIC_COOKIE + random_token(entropy, 16)


def new_tag(entropy: Entropy) -> str:
    """A From/To tag with at least 32 random bits (§19.3): 12 alphanumerics (~71 bits)."""
    return random_token(entropy, 12)


def new_call_id(entropy: Entropy, host: str | None = None) -> str:
    """A globally unique Call-ID (§8.1.1.4): 24 random alphanumerics, ``@host`` if given."""
    word = random_token(entropy, 24)
    return f"{word}@{host}" if host else word
