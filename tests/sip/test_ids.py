"""Branches, tags and Call-IDs from injected entropy (RFC 3261 §8.1.1.4, §8.1.1.7, §19.3)."""

from __future__ import annotations

from wcs.entropy import SeededEntropy, SystemEntropy
from wcs.sip.grammar import is_token
from wcs.sip.ids import MAGIC_COOKIE, new_branch, new_call_id, new_tag


def test_branch_has_the_magic_cookie_and_is_a_token() -> None:
    branch = new_branch(SystemEntropy())
    assert branch.startswith(MAGIC_COOKIE) and len(branch) == 7 + 16
    assert is_token(branch)


def test_tag_and_call_id() -> None:
    entropy = SystemEntropy()
    tag = new_tag(entropy)
    assert len(tag) == 12 and is_token(tag)
    assert new_call_id(entropy, "192.0.2.1").endswith("@192.0.2.1")
    assert "@" not in new_call_id(entropy)
    assert len(new_call_id(entropy)) == 24


def test_seeded_entropy_replays_exactly() -> None:
    a, b = SeededEntropy(7), SeededEntropy(7)
    first = [new_branch(a), new_tag(a), new_call_id(a, "h")]
    assert first == [new_branch(b), new_tag(b), new_call_id(b, "h")]
    assert len({new_branch(a) for _ in range(1000)}) == 1000
