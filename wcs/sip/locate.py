"""Locating SIP servers (RFC 3263 §4, RFC 2782, RFC 7118 §5.5), sans-I/O.

Theory of operation
-------------------
:func:`locate` is the RFC 3263 client procedure written as a generator: it yields the
DNS questions it needs (a list of :class:`Query`, asked together) and is sent back a
dict with the records found for each (empty for NXDOMAIN, no data or an error).  When
it has what it needs it returns the ordered list of :class:`Address` to try, best
first.  The caller (``wcs/aio/dns.py``) does the I/O; :func:`locate_with` drives the
generator from a synchronous look-up (tests, answers already cached).

For a :class:`Target` (host, explicit port or not, explicit transport or not, SIPS):

======================================  ================================================
target                                  procedure
======================================  ================================================
numeric IP                              no DNS; transport given, else UDP (TLS for SIPS),
                                        port given, else the transport's default (§4.1)
``localhost`` names                     no DNS: loopback addresses (RFC 6761 §6.3)
``.invalid`` names                      no DNS: nothing (RFC 6761 §6.4)
name with port                          A/AAAA of the name (§4.2)
name with transport, no port            SRV ``_sip._udp`` / ``_sip._tcp`` / ``_sips._tcp``
                                        / ``_sip._ws`` / ``_sips._ws`` (§4.2)
name alone                              NAPTR → SRV of each usable record (§4.1); none:
                                        SRV for every transport we support (§4.1)
no SRV records at all                   A/AAAA of the name, default port (§4.2)
======================================  ================================================

NAPTR records are kept when their flags are ``s``, their regexp empty and their service
one we support (``SIP+D2U`` udp, ``SIP+D2T`` tcp, ``SIPS+D2T`` tls, ``SIP+D2W`` ws,
``SIPS+D2W`` wss, RFC 7118 §5.5); a SIPS target keeps only SIPS services (§4.1).  They
are tried in (order, preference) order; lower-ranked ones stay in the list as failover
targets.  SRV records are ordered as RFC 2782 "Usage rules" says: by priority, and
within a priority by a weighted random draw (weight-0 records first in the running
sum) using the injected entropy; a target of ``.`` means "no service".  Every SRV
target is then resolved to its addresses (A before AAAA, as ``families`` says).
Duplicates are dropped, keeping the first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass

from wcs.entropy import Entropy, random_uint
from wcs.sip.transport import Address
from wcs.sip.uri import SipUri

__all__ = [
    "DEFAULT_TRANSPORTS", "Naptr", "Query", "Record", "Srv", "Target", "default_port", "is_ip",
    "locate", "locate_with", "order_srv",
]

#: transports a client may be handed, in our order of preference when the server states none
DEFAULT_TRANSPORTS = ("udp", "tcp", "tls")

#: NAPTR service field (RFC 3263 §4.1, RFC 7118 §5.5) → transport
_NAPTR_SERVICES = {"SIP+D2U": "udp", "SIP+D2T": "tcp", "SIPS+D2T": "tls", "SIP+D2W": "ws",
                   "SIPS+D2W": "wss"}
#: transport → SRV service label prefix (RFC 3263 §4.2: "_sips" for TLS, "TLS implies TCP")
_SRV_PREFIX = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp", "ws": "_sip._ws",
               "wss": "_sips._ws"}
_SECURE = frozenset({"tls", "wss"})


def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 literal (without brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def default_port(transport: str) -> int:
    """5060, 5061 for TLS (RFC 3261 §19.1.2), 80/443 for WS/WSS (RFC 7118 §5.5)."""
    return {"tls": 5061, "ws": 80, "wss": 443}.get(transport, 5060)


@dataclass(frozen=True)
class Target:
    """What to locate: the TARGET of RFC 3263 §4 and what the URI says about it."""

    host: str                       # maddr or host; IPv6 without brackets
    port: int | None = None         # explicit port, if the URI has one
    transport: str | None = None    # explicit transport (lower case), if any
    secure: bool = False            # a SIPS URI: TLS (or WSS) only

    @classmethod
    def from_uri(cls, uri: SipUri) -> Target:
        """The target of a SIP/SIPS URI (``maddr`` wins over the host; ``sips`` + ws → wss)."""
        secure = uri.scheme == "sips"
        transport = uri.transport
        if secure and transport in ("tcp", "ws"):
            transport = {"tcp": "tls", "ws": "wss"}[transport]
        return cls(uri.params.get("maddr") or uri.host, uri.port, transport, secure)

    @classmethod
    def from_address(cls, address: Address) -> Target:
        """An address with an explicit transport; port 0 means "not given" (SRV allowed)."""
        return cls(address.host, address.port or None, address.transport,
                   address.transport in _SECURE)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        transport = f";transport={self.transport}" if self.transport else ""
        return f"{'sips' if self.secure else 'sip'}:{host}{port}{transport}"


@dataclass(frozen=True)
class Query:
    """One DNS question: ``rdtype`` is "NAPTR", "SRV", "A" or "AAAA"."""

    name: str
    rdtype: str


@dataclass(frozen=True)
class Naptr:
    """A NAPTR record (RFC 3403 §4.1)."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str


@dataclass(frozen=True)
class Srv:
    """An SRV record (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str


#: A/AAAA answers are address strings
Record = Naptr | Srv | str
Answers = Mapping[Query, Sequence[Record]]
Procedure = Generator[list[Query], Answers, list[Address]]


def locate(target: Target, entropy: Entropy, *, transports: Sequence[str] = DEFAULT_TRANSPORTS,
           families: Sequence[str] = ("A", "AAAA")) -> Procedure:
    """The RFC 3263 procedure for ``target`` (see the module docstring).

    ``transports``: what the client can use, in its order of preference; ``families``:
    which address records to ask for, in the order their addresses are tried.
    """
    host = target.host.rstrip(".")
    fallback = target.transport or ("tls" if target.secure else "udp")
    if is_ip(host):
        return [Address(host, target.port or default_port(fallback), fallback)]
    if _special(host, "invalid"):
        return []
    if target.port is not None:
        ips = yield from _addresses([host], families)
        return _unique(Address(ip, target.port, fallback) for ip in ips[host])
    if target.transport is not None:
        prefix = _SRV_PREFIX.get(target.transport)
        chains = [(target.transport, f"{prefix}.{host}")] if prefix else []
    else:
        naptr = Query(host, "NAPTR")
        answers = yield [naptr]
        chains = _naptr_chains(answers.get(naptr, ()), target.secure, transports)
        if not chains:  # §4.1: no (usable) NAPTR: an SRV query for each transport we support
            chains = [(t, f"{_SRV_PREFIX[t]}.{host}") for t in transports
                      if t in _SRV_PREFIX and (t in _SECURE or not target.secure)]
        else:
            fallback = chains[0][0]
    queries = [Query(name, "SRV") for _, name in chains]
    answers = yield queries
    servers: list[tuple[str, str, int]] = []   # (transport, host, port) in order
    for (transport, _), query in zip(chains, queries, strict=True):
        records = [r for r in answers.get(query, ()) if isinstance(r, Srv)]
        servers += [(transport, r.target.rstrip("."), r.port) for r in order_srv(records, entropy)
                    if r.target.rstrip(".")]
    if not servers:  # §4.2: no SRV: the name itself on the transport's default port
        servers = [(fallback, host, default_port(fallback))]
    ips = yield from _addresses([name for _, name, _ in servers], families)
    return _unique(Address(ip, port, transport) for transport, name, port in servers
                   for ip in ips[name])


def _naptr_chains(records: Iterable[Record], secure: bool,
                  transports: Sequence[str]) -> list[tuple[str, str]]:
    """Usable NAPTR records as (transport, SRV name), best first (§4.1)."""
    usable = []
    for r in records:
        if not isinstance(r, Naptr) or r.flags.lower() != "s" or r.regexp or not r.replacement.rstrip("."):
            continue
        transport = _NAPTR_SERVICES.get(r.service.upper())
        if transport is None or transport not in transports or (secure and transport not in _SECURE):
            continue
        usable.append((r.order, r.preference, transport, r.replacement.rstrip(".")))
    usable.sort(key=lambda item: (item[0], item[1]))
    return [(transport, name) for _, _, transport, name in usable]


def _addresses(names: Sequence[str], families: Sequence[str]) -> Generator[list[Query], Answers,
                                                                             dict[str, list[str]]]:
    """A/AAAA of each name (loopback for localhost names, RFC 6761 §6.3), in family order."""
    result: dict[str, list[str]] = {}
    queries: list[Query] = []
    for name in dict.fromkeys(names):
        if _special(name, "localhost"):
            result[name] = [{"A": "127.0.0.1", "AAAA": "::1"}[f] for f in families]
        elif is_ip(name):  # an SRV target written as a literal: tolerated
            result[name] = [name]
        else:
            queries += [Query(name, family) for family in families]
    answers: Answers = (yield queries) if queries else {}
    for query in queries:
        result.setdefault(query.name, []).extend(str(r) for r in answers.get(query, ())
                                                 if isinstance(r, str))
    return result


def _special(name: str, label: str) -> bool:
    """``name`` is ``label`` or under it (RFC 6761 special-use names)."""
    name = name.lower()
    return name == label or name.endswith("." + label)


def _unique(addresses: Iterable[Address]) -> list[Address]:
    return list(dict.fromkeys(addresses))


def order_srv(records: Sequence[Srv], entropy: Entropy) -> list[Srv]:
    """RFC 2782 order: priority ascending; within one, a weighted random draw."""
    ordered: list[Srv] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        group.sort(key=lambda r: r.weight != 0)  # weight 0 first in the running sum
        while group:
            total = sum(r.weight for r in group)
            pick = random_uint(entropy, 32) % (total + 1)
            running = 0
            for index, record in enumerate(group):
                running += record.weight
                if running >= pick:
                    ordered.append(group.pop(index))
                    break
    return ordered


def locate_with(target: Target, lookup: Callable[[Query], Sequence[Record] | None], entropy: Entropy,
                *, transports: Sequence[str] = DEFAULT_TRANSPORTS,
                families: Sequence[str] = ("A", "AAAA")) -> list[Address] | None:
    """Run :func:`locate` with a synchronous ``lookup``; ``None`` as soon as it returns ``None``."""
    procedure = locate(target, entropy, transports=transports, families=families)
    try:
        queries = next(procedure)
        while True:
            answers: dict[Query, Sequence[Record]] = {}
            for query in queries:
                records = lookup(query)
                if records is None:
                    procedure.close()
                    return None
                answers[query] = records
            queries = procedure.send(answers)
    except StopIteration as done:
        result: list[Address] = done.value
        return result
