"""Send realistic, correctly signed provider webhooks to an app under test.

The samples and the signatures are the ones ``POST /v1/sources/{id}/test-events`` uses
(``gethook_lite.samples``): one implementation of each provider's format and signing scheme.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gethook_lite.samples import (
    SAMPLE_PROVIDERS,
    SampleIds,
    SignedRequest,
    UnknownProvider,
    build_sample,
    sample_event_types,
    sign_sample,
)
from gethook_lite.testing.http import HttpResponse, request

__all__ = ["PROVIDERS", "SentWebhook", "WebhookSender", "build", "canonical_provider", "send"]

DEFAULT_TIMEOUT_SECONDS = 10.0

# Every provider with samples; "generic" sends an unsigned JSON event.
PROVIDERS: tuple[str, ...] = SAMPLE_PROVIDERS
# Other names people use for the same scheme (Svix signs with Standard Webhooks).
_ALIASES = {"svix": "standard_webhooks", "standard-webhooks": "standard_webhooks"}


def canonical_provider(provider: str) -> str:
    """The samples' name for ``provider`` (aliases resolved); ValueError when unknown."""
    name = _ALIASES.get(provider.lower(), provider.lower())
    if name not in PROVIDERS:
        raise ValueError(
            f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)} (or svix)"
        )
    return name


@dataclass(frozen=True, slots=True)
class SentWebhook:
    """The app's answer (``status_code``, ``headers``, ``content``, ``text``, ``json()``) and
    what was sent (``request``: headers and body; ``event_type``, ``event_id``)."""

    response: HttpResponse
    request: SignedRequest

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    @property
    def content(self) -> bytes:
        return self.response.content

    @property
    def text(self) -> str:
        return self.response.text

    @property
    def is_success(self) -> bool:
        return self.response.is_success

    def json(self) -> Any:
        return self.response.json()

    @property
    def event_type(self) -> str:
        return self.request.sample.event_type

    @property
    def event_id(self) -> str:
        """The provider's id for the event (Stripe's ``evt_…``, a ``webhook-id``, …)."""
        return self.request.sample.event_id


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build(
    provider: str,
    event_type: str | None = None,
    secret: str | None = None,
    *,
    payload: Any = None,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
    seed: int | None = None,
) -> SignedRequest:
    """The signed request ``provider`` would send for ``event_type``, without sending it.

    ``payload`` (a JSON-able value, str or bytes) replaces the sample body and is what gets
    signed; ``headers`` are added last (they may override); ``now`` (unix seconds) dates the
    signature, e.g. an old one to test a receiver's replay window; ``seed`` makes ids repeatable.
    """
    name = canonical_provider(provider)
    if name != "generic" and not secret:
        raise ValueError(f"{name} webhooks are signed: pass secret=")
    moment = time.time() if now is None else now
    try:
        sample = build_sample(name, event_type, now=moment, ids=SampleIds(seed))
    except UnknownProvider as exc:  # pragma: no cover - canonical_provider checked it
        raise ValueError(str(exc)) from None
    if payload is not None:
        sample = dataclasses.replace(sample, body=_payload_bytes(payload))
    if name == "generic":
        signed = sign_sample(sample, "none", None, moment)
    else:
        signed = sign_sample(sample, name, {"secret": secret}, moment)
    if headers:
        signed = SignedRequest(sample=signed.sample, headers={**signed.headers, **headers})
    return signed


def send(
    provider: str,
    event_type: str | None,
    url: str,
    secret: str | None = None,
    *,
    payload: Any = None,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> SentWebhook:
    """POST a realistic ``provider`` webhook of ``event_type`` (None: the provider's default)
    to ``url``, signed with ``secret`` as the provider signs; return the answer and the request.

    A non-2xx answer is returned, not raised: checking it is the test's business.
    """
    signed = build(provider, event_type, secret, payload=payload, headers=headers, now=now)
    answer = request("POST", url, headers=signed.headers, body=signed.body, timeout=timeout)
    return SentWebhook(response=answer, request=signed)


class WebhookSender:
    """What the ``webhook_sender`` fixture gives a test: ``send``, ``build``, the providers."""

    providers: tuple[str, ...] = PROVIDERS

    def send(
        self,
        provider: str,
        event_type: str | None,
        url: str,
        secret: str | None = None,
        *,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        now: float | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> SentWebhook:
        """See :func:`gethook_lite.testing.sender.send`."""
        return send(
            provider,
            event_type,
            url,
            secret,
            payload=payload,
            headers=headers,
            now=now,
            timeout=timeout,
        )

    def build(
        self,
        provider: str,
        event_type: str | None = None,
        secret: str | None = None,
        *,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> SignedRequest:
        """See :func:`gethook_lite.testing.sender.build` (for an app called in-process)."""
        return build(provider, event_type, secret, payload=payload, headers=headers, now=now)

    def event_types(self, provider: str) -> tuple[str, ...]:
        """The event types with a hand-written sample for ``provider``, the default first."""
        return sample_event_types(canonical_provider(provider))
