"""ICE-lite responder (RFC 8445 §2.5, §7.3) with consent freshness (RFC 7675).

Theory of operation
-------------------
A lite agent gathers only host candidates, never sends checks and runs no check
lists: it answers the Binding requests of the full agent (the browser) and learns the
browser's transport address from them (peer-reflexive, §7.3.1.3).  Because one side
is lite, the full agent MUST take the controlling role (§6.1.1), so we are always
controlled.

For every Binding request, :meth:`IceLiteAgent.handle_stun` applies, in order:

1. STUN framing and FINGERPRINT (RFC 5389 §7.3; ICE requires FINGERPRINT, §7.3) —
   failures drop the packet (raise :class:`StunError`, no response);
2. short-term credentials (RFC 5389 §10.1.2): no USERNAME or MESSAGE-INTEGRITY →
   400; USERNAME not ``"<our ufrag>:<their ufrag>"`` → 401; bad HMAC with our password
   → 401.  These error responses carry FINGERPRINT but no MESSAGE-INTEGRITY;
3. unknown comprehension-required attributes → 420 with UNKNOWN-ATTRIBUTES (§7.3.1);
4. role conflict (§7.3.1.1): a request with ICE-CONTROLLED comes from an agent that
   believes it is controlled too.  A controlled full agent would compare tiebreakers
   and possibly switch to controlling, which a lite agent cannot do, so we always
   answer 487 (Role Conflict) and let the peer switch (§7.2.5.1);
5. otherwise a success response with XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY (keyed
   with our password) and FINGERPRINT, and the source becomes a valid candidate pair.
   USE-CANDIDATE nominates it (§7.3.2).  Binding is idempotent, so retransmitted
   requests are simply answered again (RFC 5389 §7.3.1).

The peer's ufrag/password are not needed to answer (RFC 8445 §7.3: checks may arrive
before the answer); only our half of USERNAME is verified.

``selected`` is the nominated pair, or before any nomination the pair that passed
the most recent check (Chrome starts DTLS as soon as one of its checks succeeds).  A
later nomination of another pair moves ``selected``; every change is reported as a
:class:`SelectedPairChanged` event.  Consent (RFC 7675 §5.1) for a lite agent is the
freshness of the checks the full agent keeps sending on the selected pair:
:meth:`consent_expired` is true when none arrived for ``timeout`` seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from wcs.entropy import Entropy, random_token
from wcs.webrtc.errors import StunError
from wcs.webrtc.stun import (
    BINDING,
    ERROR_RESPONSE,
    INDICATION,
    REQUEST,
    SOFTWARE,
    SUCCESS_RESPONSE,
    StunMessage,
    parse_message,
)

__all__ = ["CandidatePair", "IceLiteAgent", "SelectedPairChanged"]

Address = tuple[str, int]

#: Pairs kept per agent; the least recently checked non-selected pair is forgotten beyond it.
MAX_PAIRS = 16

_REASONS = {400: "Bad Request", 401: "Unauthorized", 420: "Unknown Attribute", 487: "Role Conflict"}


@dataclass
class CandidatePair:
    """A valid pair: our host candidate (implicit) and the browser's source address."""

    remote: Address
    last_check: float          # ``now`` of the latest valid check
    priority: int | None       # PRIORITY of the latest check (prflx priority, §7.1.1)
    nominated: bool = False


@dataclass(frozen=True)
class SelectedPairChanged:
    """``selected`` moved to ``address`` (``nominated``: by USE-CANDIDATE)."""

    address: Address
    nominated: bool


class IceLiteAgent:
    """Answers ICE connectivity checks for one component; see the module docstring."""

    def __init__(self, local_ufrag: str, local_pwd: str, remote_ufrag: str | None = None,
                 remote_pwd: str | None = None, *, software: str | None = None) -> None:
        self.local_ufrag = local_ufrag
        self.local_pwd = local_pwd
        self.remote_ufrag = remote_ufrag
        self.remote_pwd = remote_pwd
        self.software = software
        self._key = local_pwd.encode()
        self._username_prefix = local_ufrag + ":"
        self.pairs: dict[Address, CandidatePair] = {}
        self._selected: CandidatePair | None = None
        self._events: list[SelectedPairChanged] = []
        #: error responses sent, by reason (for the owner's counters)
        self.rejected: Counter[str] = Counter()

    @classmethod
    def generate(cls, entropy: Entropy, **kwargs: str | None) -> IceLiteAgent:
        """An agent with fresh credentials: 8-char ufrag, 24-char password (RFC 8839 §5.4)."""
        return cls(random_token(entropy, 8), random_token(entropy, 24), **kwargs)

    def set_remote_credentials(self, ufrag: str, pwd: str) -> None:
        """Record the browser's ``a=ice-ufrag``/``a=ice-pwd`` once its SDP is known."""
        self.remote_ufrag = ufrag
        self.remote_pwd = pwd

    # -- state -------------------------------------------------------------------------------

    @property
    def selected(self) -> Address | None:
        """Where media goes: the nominated pair, else the most recently validated one."""
        return self._selected.remote if self._selected else None

    @property
    def nominated(self) -> bool:
        return self._selected is not None and self._selected.nominated

    def is_valid_source(self, addr: Address) -> bool:
        """True when ``addr`` passed a connectivity check (media is accepted only from those)."""
        return addr in self.pairs

    def consent_expired(self, now: float, timeout: float = 30.0) -> bool:
        """RFC 7675 §5.1: no valid check on the selected pair for ``timeout`` seconds."""
        return self._selected is not None and now - self._selected.last_check >= timeout

    def consent_deadline(self, timeout: float = 30.0) -> float | None:
        """When :meth:`consent_expired` becomes true unless another check arrives."""
        return None if self._selected is None else self._selected.last_check + timeout

    def events(self) -> list[SelectedPairChanged]:
        """Drain the selection changes since the last call."""
        events, self._events = self._events, []
        return events

    # -- input ---------------------------------------------------------------------------------

    def handle_stun(self, data: bytes, addr: Address, now: float) -> bytes | None:
        """Process one STUN datagram from ``addr``; return the response to send back, if any.

        Raises :class:`StunError` for datagrams that are dropped without an answer.
        """
        return self.handle_message(parse_message(data), addr, now)

    def handle_message(self, request: StunMessage, addr: Address, now: float) -> bytes | None:
        """Like :meth:`handle_stun` for an already parsed message."""
        if request.method != BINDING:
            raise StunError(f"unsupported STUN method 0x{request.method:03x}")
        if request.message_class != REQUEST:
            if request.message_class == INDICATION:
                return None  # RFC 8445 §11: keepalive, nothing to do
            raise StunError("unexpected STUN response (an ICE-lite agent sends no requests)")
        if not request.has_fingerprint:
            raise StunError("STUN request without FINGERPRINT")
        username = request.username
        if username is None or request.integrity is None:
            return self._reject(request, 400, "missing USERNAME or MESSAGE-INTEGRITY")
        if not username.startswith(self._username_prefix):
            return self._reject(request, 401, "USERNAME does not start with our ufrag")
        if not request.check_integrity(self._key):
            return self._reject(request, 401, "MESSAGE-INTEGRITY mismatch")
        unknown = request.unknown_required()
        if unknown:
            return self._reject(request, 420, "unknown comprehension-required attribute",
                                unknown=unknown)
        if request.ice_controlled is not None:
            return self._reject(request, 487, "peer is ICE-CONTROLLED too")
        self._accept(request, addr, now)
        response = request.response(SUCCESS_RESPONSE).add_xor_mapped_address(addr)
        if self.software:
            response.add_text(SOFTWARE, self.software)
        return response.encode(self._key, fingerprint=True)

    def _accept(self, request: StunMessage, addr: Address, now: float) -> None:
        pair = self.pairs.get(addr)
        if pair is None:
            if len(self.pairs) >= MAX_PAIRS:
                self._forget_oldest()
            pair = self.pairs[addr] = CandidatePair(addr, now, request.priority)
        else:
            pair.last_check = now
            pair.priority = request.priority
        current = self._selected
        if request.use_candidate:
            if current is pair and pair.nominated:
                return  # renewed nomination of the selected pair: nothing changes
            if current is not None and current is not pair:
                current.nominated = False  # the controlling agent nominated another pair
            pair.nominated = True
            self._select(pair)
        elif current is None or (not current.nominated and current is not pair):
            self._select(pair)

    def _select(self, pair: CandidatePair) -> None:
        self._selected = pair
        self._events.append(SelectedPairChanged(pair.remote, pair.nominated))

    def _forget_oldest(self) -> None:
        candidates = [p for p in self.pairs.values() if p is not self._selected]
        if candidates:
            del self.pairs[min(candidates, key=lambda p: p.last_check).remote]

    def _reject(self, request: StunMessage, code: int, reason: str, *,
                unknown: list[int] | None = None) -> bytes:
        self.rejected[reason] += 1
        response = request.response(ERROR_RESPONSE).add_error_code(code, _REASONS[code])
        if unknown:
            response.add_unknown_attributes(unknown)
        # RFC 5389 §10.1.2: no MESSAGE-INTEGRITY unless the request was authenticated
        key = self._key if code in (420, 487) else None
        return response.encode(key, fingerprint=True)
