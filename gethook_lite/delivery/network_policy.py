"""Where deliveries may go: the server-side request forgery (SSRF) guard.

Three layers use one NetworkPolicy:

1. ``check_url`` at destination create/update time: syntax, plus the policy for IP literals and
   names that are loopback by definition (``localhost``). No DNS.
2. ``check_host`` at create/update time: resolves the name and checks every address, so a user
   learns early that a destination points somewhere refused.
3. ``PolicyResolver`` at delivery time: aiohttp connects only to addresses this resolver returned,
   after checking them, so a name that resolved to a public address at create time and to
   169.254.169.254 later (DNS rebinding) is still refused.

aiohttp does not consult the resolver for IP-literal hosts, so the delivery code must also call
``check_url`` before each request (cheap, pure); layers 1 and 3 together cover every URL.

Rules, in order, for an address and for every IPv4 address an IPv6 one embeds: IPv4-mapped
``::ffff:0:0/96``, SIIT IPv4-translated ``::ffff:0:0:0/96`` (RFC 6145), IPv4-compatible ``::/96``,
NAT64 ``64:ff9b::/96`` (RFC 6052/6146) and the local-use ``64:ff9b:1::/48`` (RFC 8215), 6to4
``2002::/16`` and the Teredo client address in ``2001::/32``. Any of these forms reaches the
embedded IPv4 address through a translator or a tunnel, so it is judged by it:

- ``deny_cidrs``: always refused.
- link-local (incl. cloud metadata), metadata addresses, "this network", multicast, reserved,
  unspecified: always refused; ``allow_cidrs`` cannot override this.
- loopback, private, CGNAT, unique-local: allowed only when ``allow_private`` is on or the
  address is inside ``allow_cidrs``.
- everything else: allowed.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL  # aiohttp's own URL parser: validating with it avoids parser differentials

__all__ = [
    "ALWAYS_REFUSED_NETWORKS",
    "MAX_URL_LENGTH",
    "PRIVATE_NETWORKS",
    "BlockedAddress",
    "BlockedConnectionError",
    "HostLookup",
    "InvalidDestinationUrl",
    "NetworkPolicy",
    "PolicyResolver",
    "system_lookup",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 4096
_DNS_TIMEOUT_SECONDS = 5.0

# The addresses a host name resolves to (``check_host``'s DNS); raises OSError when it cannot.
HostLookup = Callable[[str, int], Awaitable[list[str]]]


async def system_lookup(host: str, port: int) -> list[str]:
    """The system resolver's addresses for ``host`` (getaddrinfo, run off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in infos]


def _networks(table: Iterable[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    """Parse a table of (CIDR, description) pairs."""
    return tuple((ipaddress.ip_network(cidr), what) for cidr, what in table)


ALWAYS_REFUSED_NETWORKS = _networks(
    (
        ("0.0.0.0/8", "a 'this network' address"),
        ("169.254.0.0/16", "a link-local address (where cloud metadata services live)"),
        ("100.100.100.200/32", "a cloud metadata address (Alibaba Cloud)"),
        # Azure's WireServer: public address space, but only ever the platform's own endpoint.
        ("168.63.129.16/32", "a cloud platform address (Azure WireServer)"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved or broadcast address"),
        ("::/128", "the unspecified address"),
        ("fe80::/10", "a link-local address"),
        ("fd00:ec2::254/128", "a cloud metadata address (AWS)"),
        ("ff00::/8", "a multicast address"),
    )
)

PRIVATE_NETWORKS = _networks(
    (
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("198.18.0.0/15", "a benchmarking-network address"),
        ("::1/128", "the loopback address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fec0::/10", "a site-local (private) address"),
    )
)

_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_PREFIX = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIIT_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
# Where RFC 6052 (section 2.2) puts the 32 IPv4 bits for each prefix length that can sit inside
# 64:ff9b:1::/48, as (first bit, bit count) pieces; bits 64..71 (the "u" octet) are skipped.
_RFC6052_LAYOUTS = (
    ((48, 16), (72, 16)),  # /48
    ((56, 8), (72, 24)),  # /56
    ((72, 32),),  # /64
    ((96, 32),),  # /96
)

# Names that are loopback by definition (RFC 6761) or cloud metadata aliases; refusing them by
# name gives a clear error at create time even when DNS would not resolve them here.
_METADATA_HOSTNAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
# A host whose last label is a number is parsed as IPv4 by browsers and by getaddrinfo
# ("127.1", "2130706433", "0x7f.1"); only the canonical dotted quad is accepted.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_HOST_CHARS = re.compile(r"[A-Za-z0-9._-]+")


class BlockedAddress(ValueError):
    """The network policy refuses this destination address."""


class InvalidDestinationUrl(ValueError):
    """A destination URL is not an acceptable absolute http(s) URL."""


class BlockedConnectionError(OSError):
    """Raised by PolicyResolver; aiohttp wraps it in a ClientConnectorDNSError (``os_error``)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(errno.EACCES, f"{host} refused by network policy: {reason}")
        self.host = host
        self.reason = reason


def _parse_ip(value: str | IPAddress) -> IPAddress | None:
    """Return the address of an IP literal (scope id dropped), or None for anything else."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        address = value
    else:
        try:
            address = ipaddress.ip_address(value.strip("[]"))
        except ValueError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        # The zone only picks an interface; the policy is about the address itself.
        address = ipaddress.IPv6Address(str(address).partition("%")[0])
    return address


def _embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """Every IPv4 address an IPv6 one may carry (mapped, SIIT, compatible, NAT64, 6to4, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        # (server, client): a Teredo relay delivers to the client's (de-obfuscated) address.
        return (address.teredo[1],)
    if address in _NAT64_LOCAL_PREFIX:
        return _local_nat64_candidates(address)
    if (
        address in _NAT64_PREFIX
        or address in _SIIT_TRANSLATED
        or (address in _IPV4_COMPATIBLE and int(address) > 1)
    ):
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return ()


def _local_nat64_candidates(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 address under each RFC 6052 layout a local-use NAT64 prefix may use.

    Inside 64:ff9b:1::/48 the operator picks the prefix length (/48 … /96), and with it where the
    IPv4 bits sit; we cannot know which, so every reading is checked. Readings that land in
    0.0.0.0/8 are dropped: they are what the zero bits around a shorter or longer layout read
    as, and a translator never forwards to "this network". When nothing else is left, the /96
    reading stays, so that such an address is still refused.
    """
    value = int(address)
    candidates = []
    for layout in _RFC6052_LAYOUTS:
        bits = 0
        for first, count in layout:
            bits = (bits << count) | ((value >> (128 - first - count)) & ((1 << count) - 1))
        candidates.append(ipaddress.IPv4Address(bits))
    kept = [candidate for candidate in candidates if candidate not in _THIS_NETWORK]
    candidates = kept or candidates[-1:]
    return tuple(dict.fromkeys(candidates))


def _find(address: IPAddress, table: Iterable[tuple[IPNetwork, str]]) -> str | None:
    """Return the description of the first network in ``table`` holding ``address``."""
    for network, what in table:
        if address.version == network.version and address in network:
            return what
    return None


def _parse_cidrs(cidrs: Sequence[str], setting: str) -> tuple[IPNetwork, ...]:
    """Parse CIDR strings from settings; a bad one is a configuration error."""
    if isinstance(cidrs, str):
        raise TypeError(f"{setting} must be a sequence of CIDR strings, not a string")
    parsed = []
    for cidr in cidrs:
        try:
            parsed.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{setting}: {cidr!r} is not a CIDR network ({exc})") from None
    return tuple(parsed)


def _parse_url(url: str) -> URL:
    """Parse a destination URL with yarl; every syntax problem becomes InvalidDestinationUrl."""
    if not isinstance(url, str) or not url:
        raise InvalidDestinationUrl("url must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidDestinationUrl(f"url must be at most {MAX_URL_LENGTH} characters")
    # yarl silently strips tabs and newlines (as browsers do); refuse them rather than guess.
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise InvalidDestinationUrl("url must not contain spaces or control characters")
    try:
        parsed = URL(url)
        # Reading the port parses it; out-of-range or non-numeric ports fail here.
        parsed.explicit_port  # noqa: B018
    except (ValueError, TypeError) as exc:
        raise InvalidDestinationUrl(f"url is not a valid URL: {exc}") from None
    return parsed


def _check_url_syntax(parsed: URL) -> None:
    """Refuse relative URLs, other schemes, missing hosts, credentials and port 0."""
    if not parsed.scheme:
        raise InvalidDestinationUrl("url must be an absolute http or https URL")
    if parsed.scheme not in ("http", "https"):
        raise InvalidDestinationUrl("url scheme must be http or https")
    if not parsed.raw_host:
        raise InvalidDestinationUrl("url must include a host")
    if (
        parsed.raw_user is not None
        or parsed.raw_password is not None
        or "@" in (parsed.raw_authority or "")
    ):
        # Credentials in a URL leak into logs; auth_config is the place for them.
        raise InvalidDestinationUrl("url must not contain credentials; use auth_config instead")
    if parsed.explicit_port == 0:
        raise InvalidDestinationUrl("url port must be between 1 and 65535")


def _check_hostname_syntax(host: str) -> str:
    """Return the normalised DNS name (lower case, no trailing dot) or raise."""
    name = host.rstrip(".").lower()
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or not _HOST_CHARS.fullmatch(name)
        or any(not label or len(label) > 63 for label in labels)
    ):
        raise InvalidDestinationUrl(f"url host {host!r} is not a valid host name")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise InvalidDestinationUrl(
            f"url host {host!r} is not a canonical IPv4 address (use the a.b.c.d form)"
        )
    return name


class NetworkPolicy:
    """Decides which destination addresses deliveries may reach; immutable once built."""

    __slots__ = ("_allow", "_allow_private", "_deny", "_lookup")

    def __init__(
        self,
        allow_private: bool = True,
        allow_cidrs: Sequence[str] = (),
        deny_cidrs: Sequence[str] = (),
        *,
        lookup: HostLookup = system_lookup,
    ) -> None:
        self._lookup = lookup
        self._allow_private = bool(allow_private)
        self._allow = tuple((net, "allowed") for net in _parse_cidrs(allow_cidrs, "allow_cidrs"))
        self._deny = tuple((net, str(net)) for net in _parse_cidrs(deny_cidrs, "deny_cidrs"))

    @property
    def allow_private(self) -> bool:
        """Whether loopback and private addresses are allowed."""
        return self._allow_private

    def __repr__(self) -> str:
        allow = [str(net) for net, _ in self._allow]
        deny = [str(net) for net, _ in self._deny]
        return (
            f"NetworkPolicy(allow_private={self._allow_private}, allow_cidrs={allow}, "
            f"deny_cidrs={deny})"
        )

    def _refusal(self, address: IPAddress) -> str | None:
        """Return why one address (no embedded-address handling) is refused, or None."""
        denied_by = _find(address, self._deny)
        if denied_by is not None:
            return f"is in the denied network {denied_by}"
        always = _find(address, ALWAYS_REFUSED_NETWORKS)
        if always is not None:
            return f"is {always}; deliveries to it are never allowed"
        private = _find(address, PRIVATE_NETWORKS)
        if private is not None and not self._allow_private and not _find(address, self._allow):
            return f"is {private}; private destinations are disabled"
        return None

    def check_address(self, ip: str | IPAddress) -> None:
        """Raise BlockedAddress when deliveries may not connect to ``ip``."""
        address = _parse_ip(ip)
        if address is None:
            raise BlockedAddress(f"{ip!r} is not an IP address")
        reason = self._refusal(address)
        if reason is not None:
            raise BlockedAddress(f"{address} {reason}")
        for embedded in _embedded_ipv4(address):
            reason = self._refusal(embedded)
            if reason is not None:
                raise BlockedAddress(f"{address} carries {embedded}, which {reason}")

    def check_url(self, url: str) -> None:
        """Validate a destination URL without DNS.

        Raises InvalidDestinationUrl for syntax, BlockedAddress when an IP-literal host (or a
        loopback/metadata name) is refused.
        """
        parsed = _parse_url(url)
        _check_url_syntax(parsed)
        host = parsed.host or ""
        if _parse_ip(host) is not None:
            self._check_url_address(host)
            return
        name = _check_hostname_syntax(parsed.raw_host or "")
        if name in _METADATA_HOSTNAMES:
            raise BlockedAddress(
                f"url host {name} is a cloud metadata service; deliveries to it are never allowed"
            )
        if name == "localhost" or name.endswith(".localhost"):
            # RFC 6761: these names are loopback wherever they resolve.
            self._check_url_address("127.0.0.1", shown=name)

    def _check_url_address(self, ip: str, shown: str | None = None) -> None:
        """Apply check_address to a URL host, naming the URL in the error."""
        try:
            self.check_address(ip)
        except BlockedAddress as exc:
            prefix = f"url host {shown} resolves to loopback: " if shown else "url host "
            raise BlockedAddress(prefix + str(exc)) from None

    async def check_host(
        self, host: str, port: int, *, dns_timeout_seconds: float = _DNS_TIMEOUT_SECONDS
    ) -> None:
        """Resolve ``host`` and raise BlockedAddress if any of its addresses is refused.

        A name that does not resolve (or not within ``dns_timeout_seconds``) passes: that is an
        availability problem, not a policy one, and PolicyResolver checks again at delivery.
        """
        if _parse_ip(host) is not None:
            self.check_address(host)
            return
        try:
            async with asyncio.timeout(dns_timeout_seconds):
                addresses = await self._lookup(host, port)
        except (OSError, TimeoutError):
            return
        for address in addresses:
            try:
                self.check_address(address)
            except BlockedAddress as exc:
                raise BlockedAddress(f"url host {host} resolves to {exc}") from None


class PolicyResolver(AbstractResolver):
    """aiohttp resolver that refuses names resolving to any address the policy refuses.

    Resolves with ``inner`` (default: aiohttp's ThreadedResolver, created on first use), then
    checks every address. If any is refused the whole name is refused, consistent with
    ``check_host``, by raising BlockedConnectionError (an OSError), which aiohttp reports as a
    ClientConnectorDNSError before any connection is attempted. aiohttp connects to the checked
    addresses themselves, so DNS rebinding cannot slip a different address in between.

    Not consulted for IP-literal URLs (aiohttp skips resolution); see the module docstring.
    ``close()`` closes ``inner`` only when this resolver created it. A TCPConnector does not
    close a resolver it was given, so the owner closes this one.
    """

    def __init__(self, policy: NetworkPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner
        self._owns_inner = inner is None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` with the inner resolver and check every address."""
        if self._inner is None:
            # ThreadedResolver needs a running loop, so it cannot be built in __init__.
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        for result in results:
            try:
                self._policy.check_address(result["host"])
            except BlockedAddress as exc:
                raise BlockedConnectionError(host, str(exc)) from exc
        return results

    async def close(self) -> None:
        """Close the inner resolver if this resolver created it."""
        if self._owns_inner and self._inner is not None:
            await self._inner.close()
            self._inner = None
