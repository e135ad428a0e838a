"""Adapters that run other Python SIP parsers through benchmarks/bench_sip_parse.py.

One module per peer library; each defines an adapter class with ``name``, ``parse(bytes)``,
``access(message) -> (Call-ID, CSeq number, CSeq method, top Via branch, From tag)`` and
``serialize(message) -> bytes`` (``serialize = None`` when the library cannot serialize).
The libraries are installed only into ./.cache/bench-venv by ``setup.sh``.
"""

PEERS = {
    "sippy": ("sippy", "sip_peers.sippy_peer:SippyAdapter"),
    "pyVoIP": ("pyVoIP", "sip_peers.pyvoip_peer:PyVoIPAdapter"),
    "aiosipua": ("aiosipua", "sip_peers.aiosipua_peer:AiosipuaAdapter"),
}
"""Adapter name -> (distribution name on PyPI, ``module:Class``)."""
