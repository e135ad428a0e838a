"""Addresses of SIP peers and the datagrams/segments the I/O adapter must send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Address(NamedTuple):
    """Where a message goes or came from.

    ``host`` is an IP literal (IPv6 without brackets) or a host name; ``transport`` is
    lower case: ``"udp"``, ``"tcp"``, ``"tls"``, ``"ws"`` or ``"wss"``.
    """

    host: str
    port: int
    transport: str = "udp"

    @property
    def reliable(self) -> bool:
        """True for every transport but UDP (RFC 3261 §17.1.1.2, §18)."""
        return self.transport != "udp"


@dataclass(frozen=True)
class Outgoing:
    """Bytes the I/O adapter must send to ``dest``."""

    data: bytes
    dest: Address
