"""OPTIONS we send (RFC 3261 §11): capability queries and keep-alive pings to the outbound proxy.

``send_options`` asks a target (default: the account's outbound proxy, else its
registrar) and reports the final response as RequestDone.  A :class:`Keepalive` pings
the proxy of one registration every ``interval`` seconds while it is registered (the
next ping is planned when the previous one is over, so they never overlap); a ping
that gets no response at all (timeout, transport error) is reported as
KeepaliveFailed, any response counts as alive.  It stops when the registration is
removed.
"""

from __future__ import annotations

from wcs.sip.events import KeepaliveFailed
from wcs.sip.message import Response
from wcs.sip.registration import Registration
from wcs.sip.requester import ClientRequest, Done, out_of_dialog
from wcs.sip.uacore import ACCEPT, ALLOW, Account, DigestClient, UaCore
from wcs.sip.uri import SipUri


def ping_uri(core: UaCore, account: Account) -> SipUri:
    """``sip:proxy-host:port`` of the account's outbound proxy, else its registrar domain."""
    proxy = account.proxy
    if proxy is None:
        return core.domain_uri(account)
    params = {} if proxy.transport == "udp" else {"transport": proxy.transport}
    return SipUri("sip", None, None, proxy.host, proxy.port, dict(params))


def send_options(core: UaCore, account: Account, target: SipUri, done: Done, now: float) -> None:
    """OPTIONS to ``target``; the final outcome goes to ``done`` (``reporter(core, handle)``:
    RequestDone)."""
    headers = [("Accept", ACCEPT), ("Allow", ALLOW), ("Supported", core.supported)]
    build = out_of_dialog(core, account, target, "OPTIONS", headers)
    ClientRequest(core, build, DigestClient(account.credentials), done).send(now)


class Keepalive:
    """Periodic OPTIONS to the proxy of one registration (see the module docstring)."""

    def __init__(self, core: UaCore, registration: Registration, interval: float,
                 alive: dict[str, Keepalive]) -> None:
        self._core = core
        self.registration = registration
        self.interval = interval
        self._alive = alive
        alive[registration.id] = self

    def start(self, now: float) -> None:
        self._core.arm(self, "ping", now + self.interval)

    def on_timer(self, name: str, now: float) -> None:
        reg = self.registration
        if reg.state == "unregistered" or self._alive.get(reg.id) is not self:
            self._alive.pop(reg.id, None)
            return
        if reg.state != "registered":
            self.start(now)
            return
        send_options(self._core, reg.account, ping_uri(self._core, reg.account), self._done, now)

    def _done(self, status: int, reason: str, response: Response | None, now: float) -> None:
        if response is None and self.registration.state == "registered":
            self._core.emit(KeepaliveFailed(self.registration, status, reason))
        self.start(now)

    def stop(self) -> None:
        self._core.disarm(self, "ping")
        if self._alive.get(self.registration.id) is self:
            del self._alive[self.registration.id]
