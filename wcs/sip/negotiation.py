"""Offer/answer bookkeeping inside one INVITE dialog, and glare (RFC 3261 §14, RFC 3311 §5, RFC 6337 §4).

Theory of operation
-------------------
SIP allows one offer/answer exchange at a time per dialog.  :class:`OfferAnswer` keeps
what is in progress:

* ``invite_out`` / ``invite_in``: an INVITE transaction we sent / received is incomplete
  (no final response yet; for ``invite_in`` also: our 2xx carried an offer and its ACK,
  which carries the answer, has not arrived);
* ``update_out`` / ``update_in``: likewise for UPDATE (RFC 3311);
* ``offer``: "local" or "remote" while an offer is unanswered;
* ``ack_pending``: an offer or answer went in a reliable 1xx and its PRACK has not
  completed (RFC 6337 §4.3: the PRACK is then "associated with an offer/answer").

:meth:`OfferAnswer.refusal` applies RFC 6337 §4.3's rules to a request from the peer
(491 Request Pending when our own request is in the way, 500 with Retry-After when one
of the peer's is), and :meth:`may_send` tells whether we may start ours.  A refused
sender retries after :func:`glare_delay` (§14.1): 2.1-4 s when it owns the Call-ID (it
sent the initial INVITE), else 0-2 s, in 10 ms steps.
"""

from __future__ import annotations

from wcs.entropy import Entropy, random_uint

LOCAL = "local"
REMOTE = "remote"


class OfferAnswer:
    """What offer/answer work is in progress in one dialog (see the module docstring)."""

    __slots__ = ("ack_pending", "invite_in", "invite_out", "offer", "update_in", "update_out")

    def __init__(self) -> None:
        self.invite_out = False
        self.invite_in = False
        self.update_out = False
        self.update_in = False
        self.offer: str | None = None
        self.ack_pending = False

    def __repr__(self) -> str:
        flags = [name for name in ("invite_out", "invite_in", "update_out", "update_in", "ack_pending")
                 if getattr(self, name)]
        return f"<OfferAnswer offer={self.offer} {' '.join(flags)}>"

    @property
    def idle(self) -> bool:
        """Nothing in progress: any request may be sent or accepted."""
        return not (self.invite_out or self.invite_in or self.update_out or self.update_in
                    or self.ack_pending or self.offer)

    def refusal(self, method: str, has_offer: bool) -> int | None:
        """491 or 500 for a re-INVITE/UPDATE from the peer that collides, else None.

        RFC 6337 §4.3: UAS-IcI/UcI (491) and IsI/UsI (500) for INVITE; UcU (491), UsU (500)
        for any UPDATE; IcU (491) and IsU (500) for an UPDATE offer while an exchange tied
        to an INVITE is incomplete.
        """
        if method == "INVITE":
            if self.invite_out or self.update_out:
                return 491
            if self.invite_in or self.update_in or self.ack_pending or self.offer == REMOTE:
                return 500
            return None
        if self.update_out:
            return 491
        if self.update_in:
            return 500
        if not has_offer:
            return None
        unfinished = self.offer is not None or self.ack_pending
        if (self.invite_out and unfinished) or self.offer == LOCAL:
            return 491
        if (self.invite_in and unfinished) or self.offer == REMOTE:
            return 500
        return None

    def may_send(self, method: str, has_offer: bool) -> bool:
        """May we start a re-INVITE / UPDATE now (RFC 6337 §4.3 UAC-II, UU, UI, IU)?"""
        if method == "INVITE":
            return self.idle
        if self.update_out or self.update_in:
            return False
        return not has_offer or (self.offer is None and not self.ack_pending)


def glare_delay(entropy: Entropy, owns_call_id: bool) -> float:
    """Seconds to wait before retrying after a 491 (RFC 3261 §14.1), in units of 10 ms."""
    if owns_call_id:
        return 2.1 + (random_uint(entropy, 16) % 191) / 100.0   # 2.10 … 4.00 s
    return (random_uint(entropy, 16) % 201) / 100.0              # 0.00 … 2.00 s
