"""The SSRF guard: address rules, URL checks, create-time DNS checks and the aiohttp resolver.

The network is only ever used towards 127.0.0.1; other names resolve through a fake resolver.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from gethook_lite.delivery.network_policy import (
    BlockedAddress,
    BlockedConnectionError,
    InvalidDestinationUrl,
    NetworkPolicy,
    PolicyResolver,
    system_lookup,
)

OPEN = NetworkPolicy()  # the default: private destinations allowed
STRICT = NetworkPolicy(allow_private=False)
STRICT_WITH_ALLOW = NetworkPolicy(
    allow_private=False, allow_cidrs=["10.1.0.0/16", "169.254.0.0/16", "fd12::/16"]
)
WITH_DENY = NetworkPolicy(deny_cidrs=["203.0.113.0/24", "10.9.0.0/16", "2001:db8::/32"])

# Refused by every policy, whatever allow_private and allow_cidrs say.
ALWAYS_REFUSED = [
    "169.254.169.254",  # AWS/GCP/Azure/OpenStack metadata
    "169.254.0.1",
    "fe80::1",
    "fe80::1%eth0",
    "fd00:ec2::254",  # AWS metadata over IPv6 (inside fc00::/7, yet always refused)
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "100.100.100.200",  # Alibaba Cloud metadata (inside CGNAT, yet always refused)
    "168.63.129.16",  # Azure WireServer
    # IPv4 embedded in IPv6 must not smuggle a refused address through.
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "::ffff:0.0.0.0",
    "::169.254.169.254",  # IPv4-compatible (deprecated form)
    "64:ff9b::169.254.169.254",  # NAT64
    "2002:a9fe:a9fe::1",  # 6to4
    # SIIT IPv4-translated ::ffff:0:0:0/96 (RFC 6145): 169.254.169.254 in both spellings.
    "::ffff:0:a9fe:a9fe",
    "::ffff:0:169.254.169.254",
    "::ffff:0:0:0",  # SIIT of 0.0.0.0
    "::a9fe:a9fe",  # IPv4-compatible, hex spelling
    "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix, hex spelling
    # Local-use NAT64 64:ff9b:1::/48 (RFC 8215), each RFC 6052 layout of 169.254.169.254:
    "64:ff9b:1::a9fe:a9fe",  # /96
    "64:ff9b:1:0:a9:fea9:fe00:0",  # /64: bits 72..103
    "64:ff9b:1:a9:fe:a9fe::",  # /56: bits 56..63 and 72..95
    "64:ff9b:1:a9fe:a9:fe00::",  # /48: bits 48..63 and 72..87
    "64:ff9b:1:0:a9:fea9:fe01:203",  # /64 with a non-zero suffix a translator ignores
    "64:ff9b:1::",  # nothing but zeros: 0.0.0.0 in every layout
    # Teredo 2001::/32: the client address is stored inverted (169.254.169.254 ^ 0xffffffff).
    "2001:0:4136:e378:8000:63bf:5601:5601",
    "2001:0:4136:e378::5601:5601",
]

PRIVATE = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "100.64.0.1",  # CGNAT
    "198.18.0.1",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::10.0.0.1",
    "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
    "::ffff:0:7f00:1",  # SIIT of 127.0.0.1
    "::ffff:0:10.0.0.1",  # SIIT of 10.0.0.1
    "::10.0.0.1",  # IPv4-compatible
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a00:1",  # local-use NAT64 /96 of 10.0.0.1
    "64:ff9b:1:0:a:0:100:0",  # local-use NAT64 /64 of 10.0.0.1
    "64:ff9b:1:7f00:0:100::",  # local-use NAT64 /48 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo client 127.0.0.1
    "2001:0:4136:e378::3f57:fefe",  # Teredo client 192.168.1.1
]

PUBLIC = [
    "93.184.216.34",
    "1.1.1.1",
    "8.8.8.8",
    "172.32.0.1",  # just outside 172.16/12
    "100.128.0.1",  # just outside CGNAT
    "169.255.0.1",
    "2606:4700:4700::1111",
    "::ffff:1.1.1.1",
    "64:ff9b::1.1.1.1",
    "::ffff:0:1.1.1.1",  # SIIT of a public address
    "64:ff9b:1::808:808",  # local-use NAT64 /96 of 8.8.8.8
    "64:ff9b:1:0:8:808:800:0",  # local-use NAT64 /64 of 8.8.8.8
    "64:ff9b:1:808:8:800::",  # local-use NAT64 /48 of 8.8.8.8
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo client 8.8.8.8
]


@pytest.mark.parametrize("policy", [OPEN, STRICT, STRICT_WITH_ALLOW, WITH_DENY])
@pytest.mark.parametrize("ip", ALWAYS_REFUSED)
def test_always_refused(policy: NetworkPolicy, ip: str) -> None:
    with pytest.raises(BlockedAddress):
        policy.check_address(ip)


@pytest.mark.parametrize("ip", PRIVATE)
def test_private_depends_on_allow_private(ip: str) -> None:
    OPEN.check_address(ip)
    with pytest.raises(BlockedAddress, match="private destinations are disabled"):
        STRICT.check_address(ip)


@pytest.mark.parametrize("policy", [OPEN, STRICT, STRICT_WITH_ALLOW])
@pytest.mark.parametrize("ip", PUBLIC)
def test_public_allowed(policy: NetworkPolicy, ip: str) -> None:
    policy.check_address(ip)


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("10.1.2.3", True),
        ("::ffff:10.1.2.3", True),
        ("fd12::5", True),
        ("10.2.0.1", False),
        ("127.0.0.1", False),
        ("192.168.0.1", False),
    ],
)
def test_allow_cidrs_override_the_private_rule(ip: str, allowed: bool) -> None:
    if allowed:
        STRICT_WITH_ALLOW.check_address(ip)
    else:
        with pytest.raises(BlockedAddress):
            STRICT_WITH_ALLOW.check_address(ip)


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("203.0.113.7", False),
        ("::ffff:203.0.113.7", False),
        ("10.9.1.1", False),  # denied even though private destinations are allowed
        ("2001:db8::1", False),
        ("10.8.1.1", True),
        ("198.51.100.1", True),
    ],
)
def test_deny_cidrs(ip: str, allowed: bool) -> None:
    if allowed:
        WITH_DENY.check_address(ip)
    else:
        with pytest.raises(BlockedAddress, match="denied network"):
            WITH_DENY.check_address(ip)


def test_deny_wins_over_allow() -> None:
    policy = NetworkPolicy(
        allow_private=False, allow_cidrs=["10.0.0.0/8"], deny_cidrs=["10.5.0.0/16"]
    )
    policy.check_address("10.4.0.1")
    with pytest.raises(BlockedAddress):
        policy.check_address("10.5.0.1")


@pytest.mark.parametrize("ip", ["", "example.com", "127.1", "2130706433", "1.2.3.4.5", "::g"])
def test_non_ip_strings_are_refused(ip: str) -> None:
    with pytest.raises(BlockedAddress, match="not an IP address"):
        OPEN.check_address(ip)


def test_mapped_address_error_names_the_embedded_address() -> None:
    with pytest.raises(BlockedAddress, match=r"::ffff:a9fe:a9fe carries 169\.254\.169\.254"):
        OPEN.check_address("::ffff:169.254.169.254")


@pytest.mark.parametrize("cidrs", [["not-a-cidr"], ["10.0.0.0/33"], "10.0.0.0/8"])
def test_bad_cidr_settings(cidrs: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        NetworkPolicy(allow_cidrs=cidrs)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        NetworkPolicy(deny_cidrs=cidrs)  # type: ignore[arg-type]


# --- check_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/webhooks",
        "http://example.com",
        "HTTPS://Example.COM:8443/a?b=c#frag",
        "https://example.com./hook",
        "https://hooks.slack.com/services/T0/B0/XYZ",
        "http://1.1.1.1:8080/x",
        "http://[2606:4700:4700::1111]/x",
        "https://münchen.example/hook",
        "https://under_score.example.com/",
        "http://127.0.0.1:3000/webhooks",  # private allowed by default
        "http://localhost:3000/hook",
    ],
)
def test_valid_urls(url: str) -> None:
    OPEN.check_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "non-empty"),
        (None, "non-empty"),
        ("/relative/path", "absolute"),
        ("example.com/hook", "absolute"),
        ("ftp://example.com/file", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("http:///path-only", "host"),
        ("http://", "host"),
        ("https://user:secret@example.com/", "credentials"),
        ("https://user@example.com/", "credentials"),
        ("https://:secret@example.com/", "credentials"),
        ("http://example.com:0/", "port"),
        ("http://example.com:65536/", "Port out of range"),
        ("http://example.com:http/", "port"),
        ("http://example.com:-1/", "valid URL"),
        ("http://exa mple.com/", "spaces"),
        ("http://example.com/\n", "spaces"),
        ("http://exa\tmple.com/", "spaces"),
        ("http://[::1/", "valid URL"),
        ("http://127.1/", "canonical IPv4"),
        ("http://2130706433/", "canonical IPv4"),
        ("http://0x7f000001/", "canonical IPv4"),
        ("http://0/", "canonical IPv4"),
        ("http://example.123/", "canonical IPv4"),
        ("http://a..b/", "host name"),
        ("http://" + "a" * 64 + ".com/", "host name"),
        ("http://exa%00mple.com/", "host name"),
        ("https://example.com/" + "a" * 5000, "at most"),
    ],
)
def test_invalid_urls(url: str, message: str) -> None:
    with pytest.raises(InvalidDestinationUrl, match=message):
        OPEN.check_url(url)


@pytest.mark.parametrize(
    ("policy", "url"),
    [
        (OPEN, "http://169.254.169.254/latest/meta-data/"),
        (OPEN, "http://[::ffff:169.254.169.254]/latest/meta-data/"),
        (OPEN, "http://[::ffff:a9fe:a9fe]/"),
        (OPEN, "http://[::ffff:0:a9fe:a9fe]/latest/meta-data/"),  # SIIT
        (OPEN, "http://[64:ff9b:1::a9fe:a9fe]/"),
        (OPEN, "http://[2001:0:4136:e378::5601:5601]/"),
        (STRICT, "http://[::ffff:0:7f00:1]:3000/"),
        (OPEN, "http://[fd00:ec2::254]/"),
        (OPEN, "http://[fe80::1%25eth0]/"),
        (OPEN, "http://0.0.0.0:8080/"),
        (OPEN, "http://metadata.google.internal/computeMetadata/v1/"),
        (OPEN, "http://METADATA.google.internal./"),
        (STRICT, "http://127.0.0.1:3000/"),
        (STRICT, "http://[::1]:3000/"),
        (STRICT, "http://10.0.0.5/"),
        (STRICT, "http://localhost:3000/"),
        (STRICT, "http://api.localhost/"),
        (WITH_DENY, "https://203.0.113.9/"),
    ],
)
def test_refused_urls(policy: NetworkPolicy, url: str) -> None:
    with pytest.raises(BlockedAddress, match="url host"):
        policy.check_url(url)


def test_strict_policy_accepts_public_urls_without_dns() -> None:
    STRICT.check_url("https://example.com/hook")  # a name: DNS is check_host's job
    STRICT.check_url("https://1.1.1.1/hook")


# --- check_host -----------------------------------------------------------------------------


def _with_dns(policy: NetworkPolicy) -> tuple[NetworkPolicy, list[str]]:
    """The same rules looking names up in ``DNS``; and the list of names looked up."""
    asked: list[str] = []

    async def lookup(host: str, port: int) -> list[str]:
        asked.append(host)
        return await _fake_dns(host)

    return NetworkPolicy(allow_private=policy.allow_private, lookup=lookup), asked


DNS = {
    "public.test": ["93.184.216.34", "2606:4700:4700::1111"],
    "internal.test": ["10.0.0.7"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["93.184.216.34", "169.254.169.254"],
    "mapped.test": ["::ffff:169.254.169.254"],
}


async def _fake_dns(host: str) -> list[str]:
    if host == "slow.test":
        await asyncio.sleep(10)
    if host not in DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return DNS[host]


@pytest.mark.parametrize(
    ("policy", "host", "refused"),
    [
        (OPEN, "public.test", False),
        (STRICT, "public.test", False),
        (OPEN, "internal.test", False),
        (STRICT, "internal.test", True),
        (OPEN, "metadata.test", True),
        (OPEN, "mixed.test", True),  # one refused address refuses the name
        (OPEN, "mapped.test", True),
        (OPEN, "unknown.test", False),  # unresolvable is not a policy violation
        (STRICT, "127.0.0.1", True),  # IP literals are checked without DNS
        (OPEN, "[::ffff:169.254.169.254]", True),
        (OPEN, "1.1.1.1", False),
    ],
)
def test_check_host(policy: NetworkPolicy, host: str, refused: bool) -> None:
    policy, asked = _with_dns(policy)
    if refused:
        with pytest.raises(BlockedAddress):
            asyncio.run(policy.check_host(host, 443))
    else:
        asyncio.run(policy.check_host(host, 443))
    assert asked == ([] if host[0] in "[0123456789" else [host])


def test_check_host_gives_up_on_slow_dns() -> None:
    policy, _ = _with_dns(OPEN)
    asyncio.run(policy.check_host("slow.test", 443, dns_timeout_seconds=0.01))


def test_check_host_error_names_the_host() -> None:
    policy, _ = _with_dns(OPEN)
    with pytest.raises(BlockedAddress, match=r"url host metadata\.test resolves to 169\.254"):
        asyncio.run(policy.check_host("metadata.test", 443))


def test_the_system_lookup_answers_addresses_for_a_name() -> None:
    # The default lookup, against the machine's own resolver: localhost is in every hosts file.
    addresses = asyncio.run(system_lookup("localhost", 443))
    assert addresses and all(address in ("127.0.0.1", "::1") for address in addresses)


# --- PolicyResolver with a real aiohttp client ----------------------------------------------


class FakeResolver(AbstractResolver):
    """Answers from a table, or from a list of answers consumed one per lookup."""

    def __init__(self, table: dict[str, Sequence[str] | list[Sequence[str]]]) -> None:
        self.table = table
        self.lookups: list[str] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer and isinstance(answer[0], list):
            answer = answer.pop(0)  # a rebinding name: a different answer each time
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for ip in answer
        ]

    async def close(self) -> None:
        self.closed = True


async def _with_server(
    body: Callable[[int, list[str]], Awaitable[None]],
) -> list[str]:
    """Run ``body(port, hits)`` while a local aiohttp server on 127.0.0.1 answers POST /hook."""
    hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append(request.host)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        await web.SockSite(runner, sock).start()
        await body(port, hits)
    finally:
        await runner.cleanup()
        sock.close()
    return hits


async def _post(resolver: AbstractResolver, url: str) -> int:
    """POST through a session whose connector resolves with ``resolver``; return the status."""
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.post(url, data=b'{"x": 1}') as response,
    ):
        await response.read()
        return response.status


def test_allowed_name_reaches_local_server() -> None:
    inner = FakeResolver({"ok.test": ["127.0.0.1"]})

    async def body(port: int, hits: list[str]) -> None:
        resolver = PolicyResolver(OPEN, inner)
        assert await _post(resolver, f"http://ok.test:{port}/hook") == 200
        await resolver.close()

    hits = asyncio.run(_with_server(body))
    assert len(hits) == 1 and hits[0].startswith("ok.test")
    assert inner.lookups == ["ok.test"]
    assert not inner.closed  # a resolver it was given is not its to close


def _assert_refused_by_policy(exc: aiohttp.ClientConnectorError, reason: str) -> None:
    assert isinstance(exc, aiohttp.ClientConnectorDNSError)
    assert isinstance(exc.os_error, BlockedConnectionError)
    assert reason in str(exc)


def test_private_name_refused_when_private_disabled() -> None:
    inner = FakeResolver({"ok.test": ["127.0.0.1"]})

    async def body(port: int, hits: list[str]) -> None:
        resolver = PolicyResolver(STRICT, inner)
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await _post(resolver, f"http://ok.test:{port}/hook")
        _assert_refused_by_policy(caught.value, "private destinations are disabled")

    assert asyncio.run(_with_server(body)) == []  # the server never saw a request


@pytest.mark.parametrize(
    "addresses",
    [
        ["169.254.169.254"],
        ["::ffff:169.254.169.254"],
        ["::ffff:0:a9fe:a9fe"],  # SIIT
        ["64:ff9b:1:a9fe:a9:fe00::"],  # local-use NAT64, /48 layout
        ["2001:0:4136:e378::5601:5601"],  # Teredo
        ["127.0.0.1", "169.254.169.254"],  # one bad address refuses the name
    ],
)
def test_metadata_name_refused_before_connecting(addresses: list[str]) -> None:
    inner = FakeResolver({"rebind.test": addresses})

    async def body(port: int, hits: list[str]) -> None:
        resolver = PolicyResolver(OPEN, inner)
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await _post(resolver, f"http://rebind.test:{port}/hook")
        _assert_refused_by_policy(caught.value, "169.254.169.254")

    assert asyncio.run(_with_server(body)) == []
    assert inner.lookups == ["rebind.test"]


def test_dns_rebinding_is_caught_at_connection_time() -> None:
    # First lookup (say, at create time) gives a harmless address, the next one the metadata.
    inner = FakeResolver({"rebind.test": [["127.0.0.1"], ["169.254.169.254"]]})

    async def body(port: int, hits: list[str]) -> None:
        resolver = PolicyResolver(OPEN, inner)
        assert await _post(resolver, f"http://rebind.test:{port}/hook") == 200
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await _post(resolver, f"http://rebind.test:{port}/hook")
        _assert_refused_by_policy(caught.value, "link-local")

    assert len(asyncio.run(_with_server(body))) == 1
    assert inner.lookups == ["rebind.test", "rebind.test"]


def test_inner_resolver_errors_pass_through() -> None:
    async def run() -> None:
        resolver = PolicyResolver(OPEN, FakeResolver({}))
        with pytest.raises(aiohttp.ClientConnectorDNSError) as caught:
            await _post(resolver, "http://nowhere.test:9/hook")
        assert isinstance(caught.value.os_error, socket.gaierror)

    asyncio.run(run())


def test_default_inner_resolver_is_created_and_closed() -> None:
    async def run() -> None:
        resolver = PolicyResolver(STRICT)
        with pytest.raises(BlockedConnectionError) as caught:
            await resolver.resolve("127.0.0.1", 80)
        assert caught.value.host == "127.0.0.1"
        assert "private destinations are disabled" in caught.value.strerror
        await resolver.close()
        await resolver.close()  # idempotent

    asyncio.run(run())
