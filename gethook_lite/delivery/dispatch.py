"""One delivery attempt: build the signed request, send it with aiohttp, classify the answer."""

from __future__ import annotations

import base64
import json
import time
from collections import OrderedDict
from dataclasses import dataclass

import aiohttp

from gethook_lite import __version__
from gethook_lite.clock import Clock
from gethook_lite.config import DeliverySettings
from gethook_lite.custom_headers import open_custom_headers
from gethook_lite.db.deliveries import Claim
from gethook_lite.delivery.forwarded_headers import forwardable_headers
from gethook_lite.delivery.network_policy import (
    BlockedAddress,
    BlockedConnectionError,
    InvalidDestinationUrl,
    NetworkPolicy,
    PolicyResolver,
)
from gethook_lite.delivery.signing import SigningKey, keyed_signature_header
from gethook_lite.secrets_box import SecretBox

__all__ = ["AttemptResult", "Dispatcher", "classify_status"]

USER_AGENT = f"gethook-lite/{__version__}"
_DESTINATION_CACHE_SIZE = 4096


@dataclass(slots=True)
class AttemptResult:
    """What one attempt did; becomes an attempts row."""

    outcome: str  # success | timeout | network_error | http_4xx | http_5xx
    started_at: float
    finished_at: float
    latency_ms: float
    response_status: int | None = None
    response_body: str | None = None
    error_message: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class _PreparedDestination:
    """A destination's decrypted, pre-built request parts (cached per destination version)."""

    static_headers: dict[str, str]
    current_key: SigningKey
    previous_key: SigningKey | None
    previous_secret_expires_at: float | None
    refusal: str | None  # set when the URL itself is refused by the network policy


def classify_status(status: int) -> str:
    """The attempt outcome of an HTTP status (redirects are not followed: they count as 4xx)."""
    if 200 <= status < 300:
        return "success"
    if status >= 500:
        return "http_5xx"
    return "http_4xx"


class Dispatcher:
    """Sends attempts over one pooled aiohttp session; the session is opened by ``start``."""

    def __init__(
        self,
        settings: DeliverySettings,
        secrets: SecretBox,
        policy: NetworkPolicy,
        clock: Clock,
        resolver: aiohttp.abc.AbstractResolver | None = None,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._policy = policy
        self._clock = clock
        self._inner_resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._resolver: PolicyResolver | None = None
        self._destinations: OrderedDict[tuple[str, float], _PreparedDestination] = OrderedDict()

    async def start(self) -> None:
        self._resolver = PolicyResolver(self._policy, self._inner_resolver)
        # No connection limits here: the scheduler bounds attempts in flight (in all, per
        # account, per destination) before an attempt starts. A pool limit would make an
        # attempt queue for a connection inside its own timeout, and aiohttp's limit is per
        # host:port, shared by every destination (of every account) on that host, so one
        # account's hanging receiver would time out another's healthy one that was never
        # sent a request. Idle keep-alive connections are still reused per host:port.
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=0,
            resolver=self._resolver,
            ttl_dns_cache=60,
            enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,  # we store a capped prefix of the body as received
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

    async def send(self, claim: Claim) -> AttemptResult:
        """Make one attempt of a claimed delivery; never raises for delivery failures."""
        started_at = self._clock.now()
        started = time.perf_counter()
        prepared = self._prepare(claim)
        if prepared.refusal is not None:
            return _result("network_error", started_at, started, error=prepared.refusal)
        headers = self._headers(claim, prepared, started_at)
        # Covers connecting, sending and the answer: there is no wait for a pooled connection.
        timeout = aiohttp.ClientTimeout(total=claim.timeout_seconds)
        try:
            assert self._session is not None, "Dispatcher.start() was not called"
            async with self._session.post(
                claim.url, data=claim.body, headers=headers, allow_redirects=False,
                timeout=timeout,
            ) as response:  # fmt: skip
                body = await _read_capped(response, self._settings.max_response_body_bytes)
                return _result(
                    classify_status(response.status),
                    started_at,
                    started,
                    status=response.status,
                    body=body.decode("utf-8", "replace"),
                    retry_after=response.headers.get("Retry-After"),
                )
        except TimeoutError:
            seconds = claim.timeout_seconds
            return _result("timeout", started_at, started, error=f"no answer within {seconds} s")
        except aiohttp.ClientConnectorError as exc:
            blocked = exc.os_error if isinstance(exc.os_error, BlockedConnectionError) else None
            message = str(blocked) if blocked else f"cannot connect: {exc.os_error or exc}"
            return _result("network_error", started_at, started, error=message)
        except (aiohttp.ClientError, OSError) as exc:
            return _result("network_error", started_at, started, error=_describe(exc))

    def _prepare(self, claim: Claim) -> _PreparedDestination:
        key = (claim.destination_id, claim.destination_version)
        prepared = self._destinations.get(key)
        if prepared is None:
            prepared = self._build_destination(claim)
            self._destinations[key] = prepared
            if len(self._destinations) > _DESTINATION_CACHE_SIZE:
                self._destinations.popitem(last=False)
        return prepared

    def _build_destination(self, claim: Claim) -> _PreparedDestination:
        headers = {"user-agent": USER_AGENT}
        headers.update(open_custom_headers(self._secrets, claim.custom_headers) or {})
        if claim.auth_config_enc:
            headers.update(_auth_headers(json.loads(self._secrets.decrypt(claim.auth_config_enc))))
        refusal = None
        try:
            # IP-literal URLs never reach the resolver, so they are checked here.
            self._policy.check_url(claim.url)
        except (BlockedAddress, InvalidDestinationUrl) as exc:
            refusal = f"refused by network policy: {exc}"
        previous = claim.previous_secret_enc
        return _PreparedDestination(
            static_headers=headers,
            current_key=SigningKey(self._secrets.decrypt(claim.signing_secret_enc)),
            previous_key=SigningKey(self._secrets.decrypt(previous)) if previous else None,
            previous_secret_expires_at=claim.previous_secret_expires_at,
            refusal=refusal,
        )

    def _headers(self, claim: Claim, prepared: _PreparedDestination, now: float) -> dict[str, str]:
        keys = [prepared.current_key]
        if prepared.previous_key and (prepared.previous_secret_expires_at or 0) > now:
            keys.append(prepared.previous_key)
        timestamp = int(now)
        headers = dict(prepared.static_headers)
        headers["webhook-id"] = claim.event_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = keyed_signature_header(
            keys, claim.event_id, timestamp, claim.body
        )
        headers["x-gethook-attempt"] = str(claim.attempts_count + 1)
        if claim.event_type:
            headers["x-gethook-event-type"] = claim.event_type
        if claim.content_type:
            headers["content-type"] = claim.content_type
        if claim.original_headers:
            # The provider's headers go first; ours (and the destination's own) win.
            return {**forwardable_headers(claim.original_headers, headers), **headers}
        return headers


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """Up to ``cap`` bytes of the answer; a body cut short by the receiver raises.

    Reading stops at the cap (a 50 MB answer is never held in memory); the connection is then
    closed rather than drained.
    """
    chunks, size = [], 0
    while size < cap:
        chunk = await response.content.read(cap - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _auth_headers(config: dict[str, str]) -> dict[str, str]:
    if config["type"] == "bearer":
        return {"authorization": f"Bearer {config['token']}"}
    if config["type"] == "basic":
        pair = f"{config['username']}:{config['password']}".encode()
        return {"authorization": "Basic " + base64.b64encode(pair).decode()}
    return {config["header"]: config["value"]}


def _result(
    outcome: str,
    started_at: float,
    started: float,
    *,
    status: int | None = None,
    body: str | None = None,
    error: str | None = None,
    retry_after: str | None = None,
) -> AttemptResult:
    latency_ms = (time.perf_counter() - started) * 1000
    return AttemptResult(
        outcome=outcome,
        started_at=started_at,
        finished_at=started_at + latency_ms / 1000,
        latency_ms=round(latency_ms, 3),
        response_status=status,
        response_body=body,
        error_message=error,
        retry_after=retry_after,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        text = "the receiver closed the connection before answering"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        text = f"the receiver's answer was cut off: {exc}"
    return text[:500]
