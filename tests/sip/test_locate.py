"""RFC 3263 server location over canned DNS answers (wcs.sip.locate), no I/O.

Each case is a target, the DNS data (a dict of (name, rdtype) → records; anything absent is
NXDOMAIN/no data) and the exact list of addresses expected, in order.  The questions asked
are recorded so the tests also pin *which* lookups the procedure makes (no NAPTR when a
port or transport is given, no DNS at all for numeric hosts).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from wcs.entropy import SeededEntropy
from wcs.sip.locate import (
    Naptr,
    Query,
    Record,
    Srv,
    Target,
    default_port,
    locate,
    locate_with,
    order_srv,
)
from wcs.sip.transport import Address
from wcs.sip.uri import parse_uri

Zone = dict[tuple[str, str], list[Record]]

# RFC 3263 §4.1 example: TLS preferred, then TCP, then UDP
EXAMPLE: Zone = {
    ("example.com", "NAPTR"): [
        Naptr(50, 50, "s", "SIPS+D2T", "", "_sips._tcp.example.com."),
        Naptr(90, 50, "s", "SIP+D2T", "", "_sip._tcp.example.com"),
        Naptr(100, 50, "s", "SIP+D2U", "", "_sip._udp.example.com."),
    ],
    ("_sips._tcp.example.com", "SRV"): [Srv(0, 0, 5061, "tls.example.com.")],
    ("_sip._tcp.example.com", "SRV"): [Srv(0, 0, 5060, "tcp.example.com.")],
    ("_sip._udp.example.com", "SRV"): [Srv(0, 0, 5060, "udp.example.com.")],
    ("tls.example.com", "A"): ["192.0.2.1"],
    ("tcp.example.com", "A"): ["192.0.2.2"],
    ("udp.example.com", "A"): ["192.0.2.3"],
    ("udp.example.com", "AAAA"): ["2001:db8::3"],
    ("example.com", "A"): ["192.0.2.9"],
}


def run(target: Target, zone: Zone, *, families: Sequence[str] = ("A",), seed: int = 1,
        transports: Sequence[str] = ("udp", "tcp", "tls")) -> tuple[list[Address], list[Query]]:
    asked: list[Query] = []

    def lookup(query: Query) -> list[Record]:
        asked.append(query)
        return zone.get((query.name, query.rdtype), [])

    result = locate_with(target, lookup, SeededEntropy(seed), transports=transports, families=families)
    assert result is not None
    return result, asked


def A(host: str, port: int, transport: str = "udp") -> Address:
    return Address(host, port, transport)


CASES = [
    # numeric targets: no DNS, RFC 3263 §4.1/§4.2 defaults
    ("sip:192.0.2.5", {}, [A("192.0.2.5", 5060)]),
    ("sips:192.0.2.5", {}, [A("192.0.2.5", 5061, "tls")]),
    ("sip:192.0.2.5:5080;transport=tcp", {}, [A("192.0.2.5", 5080, "tcp")]),
    ("sip:[2001:db8::7]", {}, [A("2001:db8::7", 5060)]),
    ("sip:192.0.2.5;transport=ws", {}, [A("192.0.2.5", 80, "ws")]),
    ("sips:192.0.2.5;transport=ws", {}, [A("192.0.2.5", 443, "wss")]),
    ("sip:x@example.net;maddr=192.0.2.6", {}, [A("192.0.2.6", 5060)]),
    # explicit port: A records only (§4.2), UDP unless a transport is given
    ("sip:example.com:5080", EXAMPLE, [A("192.0.2.9", 5080)]),
    ("sip:example.com:5080;transport=tcp", EXAMPLE, [A("192.0.2.9", 5080, "tcp")]),
    ("sips:example.com:5081", EXAMPLE, [A("192.0.2.9", 5081, "tls")]),
    # explicit transport: SRV for it, then the name itself at the default port
    ("sip:example.com;transport=tcp", EXAMPLE, [A("192.0.2.2", 5060, "tcp")]),
    ("sip:example.com;transport=udp", EXAMPLE, [A("192.0.2.3", 5060)]),
    ("sip:nosrv.example.com;transport=tcp", {("nosrv.example.com", "A"): ["192.0.2.4"]},
     [A("192.0.2.4", 5060, "tcp")]),
    ("sips:example.com;transport=tcp", EXAMPLE, [A("192.0.2.1", 5061, "tls")]),
    # NAPTR: every usable record in (order, preference) order: TLS, TCP, UDP (§4.1 example)
    ("sip:example.com", EXAMPLE, [A("192.0.2.1", 5061, "tls"), A("192.0.2.2", 5060, "tcp"),
                                  A("192.0.2.3", 5060)]),
    # a SIPS URI keeps only SIPS services (§4.1)
    ("sips:example.com", EXAMPLE, [A("192.0.2.1", 5061, "tls")]),
    # nothing at all in DNS: no address
    ("sip:nothing.example.com", {}, []),
    # RFC 6761: localhost without DNS, .invalid never
    ("sip:localhost:5070", {}, [A("127.0.0.1", 5070)]),
    ("sip:pbx.localhost;transport=tcp", {}, [A("127.0.0.1", 5060, "tcp")]),
    ("sip:nowhere.invalid", {}, []),
]


@pytest.mark.parametrize(("uri", "zone", "expected"), CASES, ids=[c[0] for c in CASES])
def test_locate_table(uri: str, zone: Zone, expected: list[Address]) -> None:
    result, _ = run(Target.from_uri(parse_uri(uri)), zone)
    assert result == expected


def test_naptr_preference_breaks_order_ties_and_unusable_records_are_dropped() -> None:
    zone: Zone = {
        ("d.example", "NAPTR"): [
            Naptr(10, 20, "s", "SIP+D2U", "", "_sip._udp.d.example"),
            Naptr(10, 10, "S", "sip+d2t", "", "_sip._tcp.d.example"),      # case-insensitive
            Naptr(5, 10, "s", "SIP+D2S", "", "_sip._sctp.d.example"),      # SCTP: not supported
            Naptr(5, 10, "", "SIP+D2U", "", "other.example"),             # not terminal
            Naptr(5, 10, "s", "SIP+D2U", "!^.*$!sip:x@y!", "."),          # a regexp rule
            Naptr(5, 10, "s", "SIPS+D2W", "", "_sips._ws.d.example"),     # WSS: not in transports
            Naptr(1, 1, "s", "E2U+sip", "", "_sip._udp.d.example"),       # ENUM service
        ],
        ("_sip._udp.d.example", "SRV"): [Srv(1, 0, 5062, "u.d.example")],
        ("_sip._tcp.d.example", "SRV"): [Srv(1, 0, 5063, "t.d.example")],
        ("u.d.example", "A"): ["192.0.2.10"],
        ("t.d.example", "A"): ["192.0.2.11"],
    }
    result, asked = run(Target("d.example"), zone)
    assert result == [A("192.0.2.11", 5063, "tcp"), A("192.0.2.10", 5062)]
    assert Query("_sip._sctp.d.example", "SRV") not in asked


def test_no_naptr_means_srv_for_each_transport_we_support() -> None:
    zone: Zone = {
        ("s.example", "NAPTR"): [],
        ("_sip._tcp.s.example", "SRV"): [Srv(0, 0, 5070, "t.s.example")],
        ("t.s.example", "A"): ["192.0.2.20"],
    }
    result, asked = run(Target("s.example"), zone)
    assert result == [A("192.0.2.20", 5070, "tcp")]
    assert asked[:4] == [Query("s.example", "NAPTR"), Query("_sip._udp.s.example", "SRV"),
                         Query("_sip._tcp.s.example", "SRV"), Query("_sips._tcp.s.example", "SRV")]
    # SIPS: only the TLS service is asked for
    _, asked = run(Target("s.example", secure=True), zone)
    assert Query("_sips._tcp.s.example", "SRV") in asked and Query("_sip._udp.s.example", "SRV") not in asked


def test_no_records_falls_back_to_the_name_on_the_default_port() -> None:
    result, asked = run(Target("plain.example"), {("plain.example", "A"): ["192.0.2.30"]})
    assert result == [A("192.0.2.30", 5060)]
    assert asked[-1] == Query("plain.example", "A")
    result, _ = run(Target("plain.example", secure=True), {("plain.example", "A"): ["192.0.2.30"]})
    assert result == [A("192.0.2.30", 5061, "tls")]


def test_numeric_targets_ask_nothing() -> None:
    _, asked = run(Target("192.0.2.5"), EXAMPLE)
    assert asked == []


def test_explicit_port_asks_only_for_addresses() -> None:
    _, asked = run(Target("example.com", 5080), EXAMPLE, families=("A", "AAAA"))
    assert asked == [Query("example.com", "A"), Query("example.com", "AAAA")]


def test_srv_priority_then_addresses_in_family_order() -> None:
    zone: Zone = {
        ("_sip._udp.p.example", "SRV"): [Srv(20, 0, 5060, "b.p.example"), Srv(10, 0, 5090, "a.p.example"),
                                         Srv(30, 0, 5060, ".")],   # "." = no service (RFC 2782)
        ("a.p.example", "A"): ["192.0.2.40"],
        ("a.p.example", "AAAA"): ["2001:db8::40"],
        ("b.p.example", "AAAA"): ["2001:db8::41"],
    }
    result, _ = run(Target("p.example", transport="udp"), zone, families=("A", "AAAA"))
    assert result == [A("192.0.2.40", 5090), A("2001:db8::40", 5090), A("2001:db8::41", 5060)]
    result, _ = run(Target("p.example", transport="udp"), zone, families=("AAAA",))
    assert result == [A("2001:db8::40", 5090), A("2001:db8::41", 5060)]


def test_duplicate_addresses_are_tried_once() -> None:
    zone: Zone = {
        ("_sip._udp.dup.example", "SRV"): [Srv(1, 0, 5060, "x.dup.example"),
                                           Srv(2, 0, 5060, "y.dup.example")],
        ("x.dup.example", "A"): ["192.0.2.50"],
        ("y.dup.example", "A"): ["192.0.2.50"],
    }
    result, _ = run(Target("dup.example", transport="udp"), zone)
    assert result == [A("192.0.2.50", 5060)]


def test_srv_weights_follow_rfc_2782_with_seeded_entropy() -> None:
    records = [Srv(0, 0, 1, "zero"), Srv(0, 10, 2, "ten"), Srv(0, 30, 3, "thirty"), Srv(1, 100, 4, "backup")]
    firsts: Counter[str] = Counter()
    for seed in range(2000):
        ordered = order_srv(records, SeededEntropy(seed))
        assert ordered[-1].target == "backup"                      # priority first
        assert sorted(r.target for r in ordered[:3]) == ["ten", "thirty", "zero"]
        firsts[ordered[0].target] += 1
    # pick uniform in [0, 40]: "zero" wins on 0 (1/41), "ten" on 1..10 (10/41), "thirty" on 11..40 (30/41)
    assert 0 < firsts["zero"] < 120
    assert 400 < firsts["ten"] < 600
    assert 1350 < firsts["thirty"] < 1570
    # the same seed gives the same order
    assert order_srv(records, SeededEntropy(7)) == order_srv(records, SeededEntropy(7))


def test_all_zero_weights_still_order_every_record() -> None:
    records = [Srv(5, 0, port, f"h{port}") for port in range(1, 6)]
    assert sorted(r.port for r in order_srv(records, SeededEntropy(3))) == [1, 2, 3, 4, 5]


def test_generator_asks_in_rounds() -> None:
    procedure = locate(Target("example.com"), SeededEntropy(1), families=("A",))
    assert next(procedure) == [Query("example.com", "NAPTR")]
    srv = procedure.send({Query("example.com", "NAPTR"): EXAMPLE[("example.com", "NAPTR")]})
    assert srv == [Query("_sips._tcp.example.com", "SRV"), Query("_sip._tcp.example.com", "SRV"),
                   Query("_sip._udp.example.com", "SRV")]
    addresses = procedure.send({q: EXAMPLE[(q.name, "SRV")] for q in srv})
    assert addresses == [Query("tls.example.com", "A"), Query("tcp.example.com", "A"),
                         Query("udp.example.com", "A")]
    with pytest.raises(StopIteration) as done:
        procedure.send({q: EXAMPLE[(q.name, "A")] for q in addresses})
    assert done.value.value == [A("192.0.2.1", 5061, "tls"), A("192.0.2.2", 5060, "tcp"),
                                A("192.0.2.3", 5060)]


def test_locate_with_stops_at_the_first_unknown_answer() -> None:
    assert locate_with(Target("example.com"), lambda query: None, SeededEntropy(1)) is None
    assert locate_with(Target("192.0.2.1"), lambda query: None, SeededEntropy(1)) == [A("192.0.2.1", 5060)]


def test_target_from_uri_and_address() -> None:
    assert Target.from_uri(parse_uri("sips:bob@example.com;transport=tcp")) == Target(
        "example.com", None, "tls", True)
    assert Target.from_uri(parse_uri("sip:b@h.example:5070;transport=TCP")) == Target(
        "h.example", 5070, "tcp")
    assert Target.from_address(Address("h.example", 0, "tls")) == Target("h.example", None, "tls", True)
    assert Target.from_address(Address("h.example", 5060)) == Target("h.example", 5060, "udp")
    assert str(Target("2001:db8::1", 5070, "tcp")) == "sip:[2001:db8::1]:5070;transport=tcp"
    assert str(Target("h.example", secure=True)) == "sips:h.example"
    assert [default_port(t) for t in ("udp", "tcp", "tls", "ws", "wss")] == [5060, 5060, 5061, 80, 443]
