"""RFC 3263 server location over DNS: dnspython's async resolver and a cache by TTL.

The only module that imports dnspython.  :class:`SipResolver` runs the sans-I/O procedure
of :mod:`wcs.sip.locate` and answers its questions: NAPTR, SRV, A and AAAA through
``dns.asyncresolver.Resolver`` (the system's nameservers, or the ``nameservers`` given,
``"127.0.0.1:5353"`` style), converted to :class:`~wcs.sip.locate.Naptr` /
:class:`~wcs.sip.locate.Srv` / address strings at this boundary.  Answers are cached for
their TTL; NXDOMAIN and "no data" for ``negative_ttl`` seconds; a failed query (timeout,
no nameserver reachable) is not cached.  A host name DNS does not know is tried with
``getaddrinfo`` as well, so ``/etc/hosts`` names keep working.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdata
import dns.resolver
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.NAPTR import NAPTR
from dns.rdtypes.IN.SRV import SRV

from wcs.entropy import Entropy, SystemEntropy
from wcs.sip.locate import DEFAULT_TRANSPORTS, Naptr, Query, Record, Srv, Target, locate, locate_with
from wcs.sip.transport import Address

__all__ = ["LocateError", "SipResolver", "parse_nameserver"]

log = logging.getLogger(__name__)

_FAMILY = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}


class LocateError(Exception):
    """No address found for a target; ``str()`` says why."""


def parse_nameserver(text: str) -> tuple[str, int]:
    """``"192.0.2.1"``, ``"192.0.2.1:5353"``, ``"[2001:db8::1]:53"``, ``"2001:db8::1"`` → (address, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53


class SipResolver:
    """Locates SIP servers (see the module docstring)."""

    def __init__(self, nameservers: Sequence[str] | None = None, *, entropy: Entropy | None = None,
                 families: Sequence[str] = ("A", "AAAA"), transports: Sequence[str] = DEFAULT_TRANSPORTS,
                 timeout: float = 3.0, negative_ttl: float = 30.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.entropy = entropy if entropy is not None else SystemEntropy()
        self.families = tuple(families)
        self.transports = tuple(transports)
        self.timeout = timeout
        self.negative_ttl = negative_ttl
        self._loop = asyncio.get_running_loop()
        self._clock = clock or self._loop.time
        self._cache: dict[Query, tuple[float, list[Record]]] = {}
        self._errors: dict[Query, str] = {}   # the last failure of a query that was not answered
        self._resolver: dns.asyncresolver.Resolver | None
        if nameservers is None:
            try:
                self._resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                log.warning("SIP DNS: no system nameservers: no NAPTR/SRV, host names via getaddrinfo")
                self._resolver = None
        else:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(ns))
                                          for ns in nameservers]
        if self._resolver is not None:
            self._resolver.cache = None   # ours below keys by Query and keeps negative answers too

    async def locate(self, target: Target) -> list[Address]:
        """The addresses to try for ``target``, best first; :class:`LocateError` when none."""
        procedure = locate(target, self.entropy, transports=self.transports, families=self.families)
        asked: list[Query] = []
        try:
            queries = next(procedure)
            while True:
                asked += queries
                records = await asyncio.gather(*(self.query(query) for query in queries))
                queries = procedure.send(dict(zip(queries, records, strict=True)))
        except StopIteration as done:
            addresses: list[Address] = done.value
        if not addresses:
            failures = sorted({self._errors[q] for q in asked if q in self._errors})
            detail = f" ({'; '.join(failures)})" if failures else ""
            raise LocateError(f"cannot resolve {target.host}: no SIP server found for {target}{detail}")
        return addresses

    def cached(self, target: Target) -> list[Address] | None:
        """:meth:`locate` without I/O: the result when every answer it needs is cached, else None."""
        result = locate_with(target, self._cached, self.entropy, transports=self.transports,
                             families=self.families)
        return result or None

    def _cached(self, query: Query) -> list[Record] | None:
        entry = self._cache.get(query)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    async def query(self, query: Query) -> list[Record]:
        """The records for one question (cached); empty when there are none or DNS failed."""
        records = self._cached(query)
        if records is not None:
            return records
        records, ttl = await self._ask(query)
        if not records and query.rdtype in _FAMILY:
            records = await self._hosts(query)
            ttl = self.negative_ttl if records else ttl
        if ttl is not None:
            self._cache[query] = (self._clock() + ttl, records)
        return records

    async def _ask(self, query: Query) -> tuple[list[Record], float | None]:
        """Records and how long to keep them (None: do not cache, the query failed)."""
        if self._resolver is None:
            return [], None
        name = query.name if query.name.endswith(".") else query.name + "."
        self._errors.pop(query, None)
        try:
            answer = await self._resolver.resolve(name, query.rdtype, search=False, lifetime=self.timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return [], self.negative_ttl
        except (dns.exception.DNSException, OSError) as exc:
            self._errors[query] = f"{query.rdtype} {query.name}: {exc}"
            log.info("SIP DNS: %s %s failed: %s", query.rdtype, query.name, exc)
            return [], None
        rrset = answer.rrset
        if rrset is None:
            return [], self.negative_ttl
        return [r for r in map(_record, rrset) if r != ""], float(rrset.ttl)

    async def _hosts(self, query: Query) -> list[Record]:
        """``getaddrinfo`` for a name DNS does not know (``/etc/hosts``, other NSS sources)."""
        try:
            infos = await self._loop.getaddrinfo(query.name, None, family=_FAMILY[query.rdtype],
                                                 type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError):
            return []
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _record(rdata: dns.rdata.Rdata) -> Record:
    """dnspython rdata → the record types of :mod:`wcs.sip.locate`."""
    if isinstance(rdata, NAPTR):
        return Naptr(rdata.order, rdata.preference, rdata.flags.decode("ascii", "replace"),
                     rdata.service.decode("ascii", "replace"), rdata.regexp.decode("ascii", "replace"),
                     rdata.replacement.to_text())
    if isinstance(rdata, SRV):
        return Srv(rdata.priority, rdata.weight, rdata.port, rdata.target.to_text())
    if isinstance(rdata, A | AAAA):
        return str(rdata.address)
    return ""
