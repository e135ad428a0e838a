"""A small authoritative DNS server on 127.0.0.1 for the RFC 3263 tests (dnspython message API).

    server = await DnsResponder.start(zone_text("pbx.zone", dead=5099, live=5060))
    SipResolver([server.address]) …          # "127.0.0.1:<port>"
    server.asked                              # [("_sip._udp.pbx.test", "SRV"), …] in order
    server.close()

It answers from one zone: the records of the name and type asked for (authoritative), NOERROR
with no answer when the name exists without that type, NXDOMAIN otherwise.  UDP only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone

DATA = Path(__file__).resolve().parents[1] / "data" / "sipdns"


def zone_text(name: str, **ports: int) -> str:
    """A zone file from tests/data/sipdns with its port placeholders filled in."""
    return (DATA / name).read_text().format(**ports)


class DnsResponder(asyncio.DatagramProtocol):
    """Serves one zone over UDP (see the module docstring)."""

    def __init__(self, text: str) -> None:
        self.zone = dns.zone.from_text(text, relativize=False)
        self.asked: list[tuple[str, str]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    @classmethod
    async def start(cls, text: str) -> DnsResponder:
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(lambda: cls(text),
                                                                local_addr=("127.0.0.1", 0))
        server.port = int(transport.get_extra_info("sockname")[1])
        return server

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        self.asked.append((question.name.to_text(omit_final_dot=True),
                           dns.rdatatype.to_text(question.rdtype)))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        node = self.zone.get_node(question.name)
        if node is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            rdataset = node.get_rdataset(dns.rdataclass.IN, question.rdtype)
            if rdataset is not None:
                rrset = response.find_rrset(response.answer, question.name, dns.rdataclass.IN,
                                            question.rdtype, create=True)
                rrset.update(rdataset)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
