"""Settings of the user agent's call features (100rel, session timers, keep-alive pings)."""

from __future__ import annotations

from dataclasses import dataclass

from wcs.errors import LocalProtocolError

#: option tags we understand in Supported/Require (RFC 3262, RFC 4028, RFC 3891)
OPTION_TAGS = ("100rel", "replaces", "timer")


@dataclass(frozen=True)
class UaConfig:
    """What the UA does by itself; the defaults suit a gateway.

    ``prack`` (RFC 3262, as callee): "off" never sends provisional responses reliably
    (and answers ``Require: 100rel`` with 420); "supported" sends 18x reliably when the
    caller supports or requires 100rel; "required" also refuses callers without it (421).
    As caller the UA always supports 100rel and PRACKs reliable responses.

    ``session_expires`` (RFC 4028): the session interval we ask for as caller and grant
    as callee when the peer supports timers (None: no timer unless the peer asks for one);
    ``min_se``: the shortest interval we accept (422 below it, never under 90 s);
    ``refresher``: who refreshes when we choose: "local" (us) or "remote"; as caller None
    leaves the choice to the callee (RFC 4028 §7.1 recommends it); ``refresh_method``:
    "UPDATE" (without a body, when the peer allows UPDATE, §7.4) or "INVITE" (re-INVITE
    with the current SDP).

    ``keepalive_interval``: seconds between OPTIONS pings to the outbound proxy (else the
    registrar) of each registered account; None: no pings.
    """

    prack: str = "supported"
    session_expires: int | None = 1800
    min_se: int = 90
    refresher: str | None = "local"
    refresh_method: str = "UPDATE"
    keepalive_interval: float | None = None

    def __post_init__(self) -> None:
        if self.prack not in ("off", "supported", "required"):
            raise LocalProtocolError(f"prack must be off, supported or required, not {self.prack!r}")
        if self.min_se < 90:
            raise LocalProtocolError("min_se must be at least 90 seconds (RFC 4028 §5)")
        if self.session_expires is not None and self.session_expires < self.min_se:
            raise LocalProtocolError("session_expires must not be below min_se")
        if self.refresher not in (None, "local", "remote"):
            raise LocalProtocolError(f"refresher must be local, remote or None, not {self.refresher!r}")
        if self.refresh_method not in ("UPDATE", "INVITE"):
            raise LocalProtocolError(f"refresh_method must be UPDATE or INVITE, not {self.refresh_method!r}")
        if self.keepalive_interval is not None and self.keepalive_interval <= 0:
            raise LocalProtocolError("keepalive_interval must be positive")

    @property
    def accepted_tags(self) -> frozenset[str]:
        """Option tags an incoming ``Require`` may name (100rel only when we may send it)."""
        tags = set(OPTION_TAGS)
        if self.prack == "off":
            tags.discard("100rel")
        return frozenset(tags)
