"""Which samples exist: the providers, their event types, and one entry point to build them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from gethook_lite.samples.generic import (
    GENERIC_EVENT_TYPES,
    STANDARD_WEBHOOKS_EVENT_TYPES,
    generic_sample,
    standard_webhooks_sample,
)
from gethook_lite.samples.github import GITHUB_EVENT_TYPES, github_sample
from gethook_lite.samples.model import Sample, SampleIds, check_event_type
from gethook_lite.samples.shopify import SHOPIFY_EVENT_TYPES, shopify_sample
from gethook_lite.samples.signing import SignedRequest, sign_sample
from gethook_lite.samples.slack import SLACK_EVENT_TYPES, slack_sample
from gethook_lite.samples.stripe import STRIPE_EVENT_TYPES, stripe_sample

__all__ = [
    "SAMPLE_PROVIDERS",
    "UnknownProvider",
    "build_sample",
    "provider_for_auth_mode",
    "provider_request",
    "sample_event_types",
]

_Builder = Callable[[str, float, SampleIds], Sample]

# In display order; "generic" serves every auth mode without a provider preset.
_CATALOG: Mapping[str, tuple[tuple[str, ...], _Builder]] = MappingProxyType(
    {
        "stripe": (STRIPE_EVENT_TYPES, stripe_sample),
        "github": (GITHUB_EVENT_TYPES, github_sample),
        "shopify": (SHOPIFY_EVENT_TYPES, shopify_sample),
        "slack": (SLACK_EVENT_TYPES, slack_sample),
        "standard_webhooks": (STANDARD_WEBHOOKS_EVENT_TYPES, standard_webhooks_sample),
        "generic": (GENERIC_EVENT_TYPES, generic_sample),
    }
)
SAMPLE_PROVIDERS: tuple[str, ...] = tuple(_CATALOG)


class UnknownProvider(ValueError):
    """No samples for this provider."""


def _entry(provider: str) -> tuple[tuple[str, ...], _Builder]:
    entry = _CATALOG.get(provider)
    if entry is None:
        raise UnknownProvider(f"provider: must be one of {', '.join(SAMPLE_PROVIDERS)}")
    return entry


def sample_event_types(provider: str) -> tuple[str, ...]:
    """The event types with a hand-written sample, the default first."""
    return _entry(provider)[0]


def provider_for_auth_mode(auth_mode: str) -> str:
    """The samples a source with this auth_mode receives (``generic`` for none/hmac/…)."""
    return auth_mode if auth_mode in _CATALOG else "generic"


def build_sample(
    provider: str, event_type: str | None = None, *, now: float, ids: SampleIds | None = None
) -> Sample:
    """A sample of ``event_type`` (default: the provider's first) as ``provider`` sends it.

    An event type without a hand-written sample still gets a valid envelope of that type, so
    any type a route pattern expects can be tried. Raises UnknownProvider or InvalidEventType.
    """
    event_types, build = _entry(provider)
    event_type = event_types[0] if event_type is None else check_event_type(event_type)
    return build(event_type, now, ids or SampleIds())


def provider_request(
    provider: str,
    event_type: str | None = None,
    *,
    secret: str | None,
    now: float,
    ids: SampleIds | None = None,
) -> SignedRequest:
    """A sample signed with ``secret`` as ``provider`` signs (``generic``: unsigned)."""
    sample = build_sample(provider, event_type, now=now, ids=ids)
    if provider == "generic":
        return sign_sample(sample, "none", None, now)
    return sign_sample(sample, provider, {"secret": secret}, now)
