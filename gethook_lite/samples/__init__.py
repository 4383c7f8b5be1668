"""Realistic sample webhooks per provider, signed as the provider signs them.

Used by ``POST /v1/sources/{id}/test-events`` and by anything that must send a provider's
webhook (a test sender). Pure: the caller passes the time and, for repeatable output, seeded ids.
"""

from gethook_lite.samples.catalog import (
    SAMPLE_PROVIDERS,
    UnknownProvider,
    build_sample,
    provider_for_auth_mode,
    provider_request,
    sample_event_types,
)
from gethook_lite.samples.model import InvalidEventType, Sample, SampleIds
from gethook_lite.samples.signing import SignedRequest, sign_sample

__all__ = [
    "SAMPLE_PROVIDERS",
    "InvalidEventType",
    "Sample",
    "SampleIds",
    "SignedRequest",
    "UnknownProvider",
    "build_sample",
    "provider_for_auth_mode",
    "provider_request",
    "sample_event_types",
    "sign_sample",
]
