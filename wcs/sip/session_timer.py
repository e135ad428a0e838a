"""Session timers (RFC 4028): negotiation on INVITE, re-INVITE and UPDATE, refreshes and expiry.

Theory of operation
-------------------
Every UA request carries ``Supported: timer`` (the UA's Supported list).  A dialog's
:class:`SessionTimer` holds the negotiated *session interval*, who refreshes ("local"
or "remote") and the largest Min-SE seen.  Every 2xx to a session refresh request
(INVITE, re-INVITE, UPDATE, whoever sent it) renegotiates and restarts the timer
(§7.2, §9): the UAC at reception, the UAS at transmission.

As sender (:meth:`SessionTimers.request_headers`): ``Session-Expires`` is the current
interval when a timer runs (refresher "uac" if we refresh, "uas" if the peer does,
§7.4), else the configured interval; ``Min-SE`` once anything above 90 s is known.  A
422 makes the request go again with the Min-SE it names (§7.3; only when that is larger
than what we asked, so it cannot loop).  A 2xx without Session-Expires to a request
that asked for one means the peer does not do timers: we refresh ourselves (§7.2).

As receiver (:meth:`SessionTimers.response_headers`): a Session-Expires below our
``min_se`` from a peer that supports timers gets 422 with our Min-SE (§9); otherwise the
2xx carries ``Session-Expires`` (at most our configured interval, never below the
request's Min-SE) with the refresher of RFC 4028 Table 2, and ``Require: timer`` when
the peer supports timers.  A peer that supports timers but asked for none gets our
configured interval.

The refresher sends a refresh (UPDATE without a body when the peer allows UPDATE and
the configuration says so, else a re-INVITE with the current SDP, §7.4) at half the
interval; either side ends the session with BYE when no refresh succeeded by the
expiration less min(32 s, interval/3) (§10), reported as CallEnded("session-timer").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wcs.sip.errors import SipParseError
from wcs.sip.grammar import parse_params
from wcs.sip.message import Request, Response
from wcs.sip.uaconfig import UaConfig

if TYPE_CHECKING:
    from wcs.sip.invite import InviteSession
    from wcs.sip.invite_uas import InviteManager

LOCAL = "local"
REMOTE = "remote"
#: the smallest session interval RFC 4028 allows (§4, §5)
MIN_SE = 90
REFRESH = "st-refresh"
EXPIRE = "st-expire"


@dataclass(frozen=True)
class SessionExpires:
    """A Session-Expires value: ``delta-seconds [;refresher=uac|uas]`` (§4)."""

    delta: int
    refresher: str | None = None


def parse_session_expires(value: str) -> SessionExpires:
    """Raises SipParseError("Malformed Session-Expires header")."""
    text, _, rest = value.strip().partition(";")
    params = parse_params(";" + rest) if rest else {}
    text = text.strip()
    if not text.isdigit() or len(text) > 10 or params is None or int(text) == 0:
        raise SipParseError("Malformed Session-Expires header")
    refresher = params.get("refresher")
    if refresher is not None:
        refresher = refresher.lower()
        if refresher not in ("uac", "uas"):
            raise SipParseError("Malformed Session-Expires header")
    return SessionExpires(int(text), refresher)


def parse_min_se(value: str) -> int:
    """Raises SipParseError("Malformed Min-SE header")."""
    text = value.split(";", 1)[0].strip()
    if not text.isdigit() or len(text) > 10:
        raise SipParseError("Malformed Min-SE header")
    return int(text)


def _supports_timer(message: Request | Response) -> bool:
    return "timer" in (tag.lower() for tag in message.headers.get_list("Supported"))


class SessionTimer:
    """The RFC 4028 state of one dialog."""

    __slots__ = ("asked", "interval", "min_se", "refresher")

    def __init__(self) -> None:
        #: negotiated session interval in seconds (None: no timer)
        self.interval: int | None = None
        #: who refreshes: "local" or "remote"
        self.refresher: str | None = None
        #: the largest Min-SE seen in 422s or in the peer's requests (§7.4)
        self.min_se = MIN_SE
        #: the Session-Expires of our last request (None: we asked for no timer)
        self.asked: int | None = None

    def __repr__(self) -> str:
        return f"<SessionTimer {self.interval} refresher={self.refresher} min_se={self.min_se}>"


class SessionTimers:
    """Negotiates and runs the session timers of one UA's INVITE sessions."""

    def __init__(self, manager: InviteManager, config: UaConfig) -> None:
        self._manager = manager
        self._core = manager.core
        self._config = config

    # ------------------------------------------------------------ as sender of a refresh request

    def request_headers(self, session: InviteSession) -> list[tuple[str, str]]:
        """Session-Expires / Min-SE for an INVITE, re-INVITE or UPDATE we send."""
        st = session._st
        config = self._config
        headers: list[tuple[str, str]] = []
        min_se = max(st.min_se, config.min_se)
        if st.interval is not None:
            delta = max(st.interval, st.min_se)
            refresher: str | None = "uac" if st.refresher == LOCAL else "uas"
        elif config.session_expires is not None:
            delta = max(config.session_expires, min_se)
            refresher = {LOCAL: "uac", REMOTE: "uas", None: None}[config.refresher]
        else:
            st.asked = None
            return headers
        st.asked = delta
        headers.append(("Session-Expires", f"{delta};refresher={refresher}" if refresher else str(delta)))
        if min_se > MIN_SE:
            headers.append(("Min-SE", str(min_se)))
        return headers

    def retry_after_422(self, session: InviteSession, response: Response) -> bool:
        """Take a 422's Min-SE; True when asking again with it can succeed (§7.3)."""
        st = session._st
        try:
            min_se = parse_min_se(response.headers.get("Min-SE") or "")
        except SipParseError:
            return False
        if st.asked is None or min_se <= st.asked:
            return False
        st.min_se = max(st.min_se, min_se)
        return True

    def on_2xx_received(self, session: InviteSession, response: Response, now: float) -> None:
        """A 2xx to our INVITE / re-INVITE / UPDATE: the new interval and refresher (§7.2)."""
        st = session._st
        value = response.headers.get("Session-Expires")
        se = None
        if value is not None:
            try:
                se = parse_session_expires(value)
            except SipParseError:
                se = None  # unusable: as if absent (the 2xx itself must still be processed)
        if se is not None:
            st.interval = max(se.delta, MIN_SE)
            st.refresher = REMOTE if se.refresher == "uas" else LOCAL
        elif st.asked is not None:
            st.interval, st.refresher = st.asked, LOCAL   # the peer does not do timers: we refresh
        else:
            st.interval = st.refresher = None
        self.start(session, now)

    # ------------------------------------------------------------ as receiver of a refresh request

    def check_request(self, request: Request) -> int | None:
        """Our Min-SE when ``request`` asks for a shorter interval than we accept (→ 422), else None.

        Raises SipParseError for a malformed Session-Expires or Min-SE (→ 400).
        """
        value = request.headers.get("Session-Expires")
        min_se = request.headers.get("Min-SE")
        if min_se is not None:
            parse_min_se(min_se)
        if value is None:
            return None
        se = parse_session_expires(value)
        if se.delta < self._config.min_se and _supports_timer(request):
            return self._config.min_se
        return None

    def response_headers(self, session: InviteSession, request: Request, now: float) -> list[tuple[str, str]]:
        """Session-Expires (and Require: timer) for the 2xx to the peer's refresh request; the
        timer restarts now (§9).  ``request`` passed :meth:`check_request`."""
        st = session._st
        config = self._config
        peer_supports = _supports_timer(request)
        value = request.headers.get("Session-Expires")
        se = parse_session_expires(value) if value is not None else None
        request_min = parse_min_se(request.headers.get("Min-SE") or str(MIN_SE))
        st.min_se = max(st.min_se, request_min)
        chosen = REMOTE if config.refresher == REMOTE else LOCAL
        if se is not None:
            delta = se.delta
            if config.session_expires is not None and config.session_expires < delta:
                delta = max(config.session_expires, request_min, MIN_SE)   # §9: may reduce, not below Min-SE
            if se.refresher == "uac":
                refresher = REMOTE
            elif se.refresher == "uas" or not peer_supports:
                refresher = LOCAL                                       # Table 2
            else:
                refresher = chosen
        elif peer_supports and config.session_expires is not None:
            delta, refresher = max(config.session_expires, request_min), chosen
        else:
            if st.refresher != LOCAL or peer_supports:
                st.interval = st.refresher = None   # §9: nobody asked, no expiration
            self.start(session, now)   # a peer without timers cannot stop the refreshes we chose (§7.2)
            return []
        st.interval, st.refresher = delta, refresher
        self.start(session, now)
        headers = [("Session-Expires", f"{delta};refresher={'uac' if refresher == REMOTE else 'uas'}")]
        if peer_supports:
            headers.append(("Require", "timer"))
        return headers

    # ------------------------------------------------------------ timers

    def start(self, session: InviteSession, now: float) -> None:
        """(Re)arm refresh and expiry after a successful refresh."""
        handler = session._handler
        self.stop(session)
        interval = session._st.interval
        if interval is None or session.ended:
            return
        if session._st.refresher == LOCAL:
            self._core.arm(handler, REFRESH, now + interval / 2)
        self._core.arm(handler, EXPIRE, now + interval - min(32.0, interval / 3))

    def stop(self, session: InviteSession) -> None:
        self._core.disarm(session._handler, REFRESH)
        self._core.disarm(session._handler, EXPIRE)

    def on_timer(self, session: InviteSession, name: str, now: float) -> None:
        if session.ended:
            return
        if name == REFRESH:
            self._manager.offers.refresh(session, now)
        elif name == EXPIRE:
            self._manager.expire(session, now)
