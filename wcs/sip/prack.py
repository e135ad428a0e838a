"""Reliable provisional responses and PRACK (RFC 3262), both roles.

Theory of operation
-------------------
Caller (:meth:`Prack.uac_provisional`): every INVITE says ``Supported: 100rel``.  A
101-199 response with ``Require: 100rel`` and an RSeq is PRACKed in its (early) dialog
with ``RAck: <RSeq> <CSeq number> INVITE``.  The first one fixes the sequence; later
ones are accepted only with RSeq one higher (§4): retransmissions and out-of-order ones
are dropped, not PRACKed again ("a UAC SHOULD NOT retransmit the PRACK request when it
receives a retransmission of the provisional response"; the PRACK's own transaction
retransmits it).  An SDP answer in a reliable 1xx completes the offer/answer (§5).

Callee (the rest): the INVITE decides (:meth:`Prack.uas_invite`): with ``prack`` not
"off" and 100rel in the caller's Supported or Require, every 18x goes reliably:

=============  ===========================  ==============================================
state          input                        action
=============  ===========================  ==============================================
idle           18x from the owner           ``Require: 100rel``, RSeq (random first, then
                                            +1, §3), sent; retransmitted at T1, 2T1, 4T1 …
                                            (no T2 cap, §3) → unacked
unacked        18x from the owner           queued until the PRACK (§3: one at a time)
unacked        matching PRACK               200, retransmissions stop; its SDP is the
                                            answer to an offer in the 1xx (AnswerReceived);
                                            the next queued 18x or a held-back 2xx goes
unacked        2xx from the owner           held back while the 1xx carried SDP (§5),
                                            else sent (the 1xx stops being retransmitted)
unacked        64*T1 without PRACK          500 "No PRACK" to the INVITE (§3: a 5xx),
                                            CallEnded("failed")
any            PRACK matching nothing       481 (§3); malformed RAck → 400
=============  ===========================  ==============================================

An offer in a PRACK is not supported (answered 200 without a body).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wcs.entropy import random_uint
from wcs.sip.errors import SipParseError
from wcs.sip.message import Request, Response, make_response
from wcs.sip.negotiation import LOCAL, REMOTE
from wcs.sip.requester import ClientRequest, in_dialog
from wcs.sip.transaction import ServerTransaction
from wcs.sip.uaconfig import UaConfig

if TYPE_CHECKING:
    from wcs.sip.invite import InviteSession
    from wcs.sip.invite_uas import InviteManager

RETRANSMIT = "rel1xx"
GIVE_UP = "rel1xx-giveup"


def requires_100rel(message: Request | Response) -> bool:
    return "100rel" in (tag.lower() for tag in message.headers.get_list("Require"))


def _tags(request: Request) -> set[str]:
    """Option tags in Supported and Require."""
    return {t.lower() for t in request.headers.get_list("Supported") + request.headers.get_list("Require")}


def parse_rseq(value: str) -> int:
    """Raises SipParseError("Malformed RSeq header")."""
    text = value.strip()
    if not text.isdigit() or len(text) > 10 or not 0 < int(text) < 2**32:
        raise SipParseError("Malformed RSeq header")
    return int(text)


def parse_rack(value: str) -> tuple[int, int, str]:
    """``RAck: response-num CSeq-num method`` → tuple; raises SipParseError("Malformed RAck header")."""
    parts = value.split()
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 10 for p in parts[:2]):
        raise SipParseError("Malformed RAck header")
    return int(parts[0]), int(parts[1]), parts[2].upper()


class Reliable:
    """The callee's reliable provisional responses of one INVITE."""

    __slots__ = ("answer_sdp", "held_2xx", "interval", "queued", "rseq", "unacked", "unacked_rseq")

    def __init__(self, first_rseq: int) -> None:
        self.rseq = first_rseq - 1
        self.unacked: Response | None = None
        self.unacked_rseq = 0
        self.interval = 0.0
        self.queued: list[Response] = []
        #: the SDP a reliable 1xx answered the INVITE's offer with (the 2xx repeats it)
        self.answer_sdp: bytes | None = None
        #: the 2xx SDP held back until the PRACK (§5)
        self.held_2xx: bytes | None = None


class Prack:
    """RFC 3262 for the INVITE sessions of one UA."""

    def __init__(self, manager: InviteManager, config: UaConfig) -> None:
        self._manager = manager
        self._core = manager.core
        self._config = config

    # ------------------------------------------------------------ caller

    def uac_provisional(self, session: InviteSession, response: Response, now: float) -> bool:
        """Handle a 101-199 (after its early dialog is set up); False: drop it (§4)."""
        dialog = session.dialog
        if not requires_100rel(response) or dialog is None or dialog.remote_tag != response.to_tag:
            return True
        try:
            rseq = parse_rseq(response.headers.get("RSeq") or "")
        except SipParseError:
            return True  # not usable as a reliable response: process it as an unreliable one
        key = (response.to_tag or "", response.cseq.seq)
        last = session._rseq.get(key)
        if last is not None and rseq != last + 1:
            return False
        session._rseq[key] = rseq
        oa = session._oa
        if response.body and oa.offer == LOCAL:
            oa.offer = None
            oa.ack_pending = True

        def done(status: int, reason: str, final: Response | None, when: float) -> None:
            oa.ack_pending = False
            self._manager.offers.flush(session, when)

        cseq = response.cseq
        build = in_dialog(self._core, session, "PRACK", [("RAck", f"{rseq} {cseq.seq} {cseq.method}")])
        ClientRequest(self._core, build, session._digest, done).send(now)
        return True

    # ------------------------------------------------------------ callee

    def uas_invite(self, request: Request) -> int | None:
        """Whether the caller allows reliable 1xx: None if fine, 421 when we require it and it does not."""
        if "100rel" not in _tags(request) and self._config.prack == "required":
            return 421
        return None

    def reliable(self, session: InviteSession) -> bool:
        """Do this session's 18x go reliably?"""
        invite = session._invite
        if self._config.prack == "off" or invite is None:
            return False
        return "100rel" in _tags(invite)

    def send_provisional(self, session: InviteSession, txn: ServerTransaction, response: Response,
                         now: float) -> None:
        """Send an 18x reliably, or queue it behind the unacknowledged one."""
        rel = session._rel
        if rel is None:
            first = 1 + random_uint(self._core.entropy, 31) % (2**31 - 2)
            rel = session._rel = Reliable(first)
        response.headers.add("Require", "100rel")
        if rel.unacked is not None:
            rel.queued.append(response)
            return
        self._send(session, rel, txn, response, now)

    def _send(self, session: InviteSession, rel: Reliable, txn: ServerTransaction, response: Response,
              now: float) -> None:
        rel.rseq += 1
        response.headers.set("RSeq", str(rel.rseq))
        oa = session._oa
        if response.body:
            if oa.offer == REMOTE:          # the answer to the INVITE's offer
                rel.answer_sdp = response.body
                oa.offer = None
            elif oa.offer is None and session.remote_sdp is None:
                oa.offer = LOCAL            # our offer (the INVITE had none, §5)
            oa.ack_pending = True
        rel.unacked = response
        rel.unacked_rseq = rel.rseq
        rel.interval = self._core.timers.t1
        self._core.layer.respond(txn, response, now)
        self._core.arm(session._handler, RETRANSMIT, now + rel.interval)
        self._core.arm(session._handler, GIVE_UP, now + self._core.timers.timer_b)

    def hold_2xx(self, session: InviteSession, sdp: bytes) -> bool:
        """True when the 2xx must wait for the PRACK of a 1xx with SDP (§5); stops 1xx retransmission."""
        rel = session._rel
        if rel is None or rel.unacked is None:
            return False
        if rel.unacked.body:
            rel.held_2xx = sdp
            return True
        self.stop(session)  # §3: a final response ends retransmission; a late PRACK still gets 200
        return False

    def answer_sdp(self, session: InviteSession, sdp: bytes) -> bytes:
        """The SDP for the 2xx: a reliable 1xx's answer is final, so the 2xx repeats it."""
        rel = session._rel
        return rel.answer_sdp if rel is not None and rel.answer_sdp is not None else sdp

    def on_prack(self, session: InviteSession, request: Request, txn: ServerTransaction, now: float) -> None:
        rseq, cseq, method = parse_rack(request.headers.get("RAck") or "")
        rel = session._rel
        invite = session._invite
        if (rel is None or rel.unacked is None or invite is None or method != "INVITE"
                or (rseq, cseq) != (rel.unacked_rseq, invite.cseq.seq)):
            self._core.layer.respond(txn, make_response(request, 481), now)
            return
        self._core.layer.respond(txn, make_response(request, 200), now)
        self.stop(session)
        rel.unacked = None
        oa = session._oa
        oa.ack_pending = False
        body = request.body if request.body and (request.content_type or "").lower().startswith(
            "application/sdp") else None
        if oa.offer == LOCAL:
            oa.offer = None
            if body is not None:
                session.remote_sdp = body
            self._manager.answer_received(session, body)
        server = session._server_txn
        if server is None or server.final_sent or session.ended:
            return
        if rel.queued:
            self._send(session, rel, server, rel.queued.pop(0), now)
        elif rel.held_2xx is not None:
            sdp, rel.held_2xx = rel.held_2xx, None
            self._manager.send_answer(session, sdp, now)

    def stop(self, session: InviteSession) -> None:
        self._core.disarm(session._handler, RETRANSMIT)
        self._core.disarm(session._handler, GIVE_UP)

    def on_timer(self, session: InviteSession, name: str, now: float) -> None:
        rel = session._rel
        server = session._server_txn
        if rel is None or rel.unacked is None or server is None or server.final_sent or session.ended:
            return
        if name == RETRANSMIT:
            self._core.layer.respond(server, rel.unacked, now)
            rel.interval *= 2
            self._core.arm(session._handler, RETRANSMIT, now + rel.interval)
        elif name == GIVE_UP:
            self._manager.give_up_prack(session, now)
