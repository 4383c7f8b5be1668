"""Provider presets (inbound verification) and destination presets (outbound targets).

Served by ``GET /v1/provider-presets`` and ``GET /v1/destination-presets``. A provider preset's
id is also its ``auth_mode`` (docs/wire.md, "Presets"). Destination presets
are hints for building a destination; the gateway still forwards the event body byte for byte,
so a chat service only accepts events whose body is already a message in its format.
"""

from __future__ import annotations

import msgspec

from gethook_lite.samples import sample_event_types

__all__ = [
    "DestinationPreset",
    "ProviderPreset",
    "destination_presets",
    "get_destination_preset",
    "get_provider_preset",
    "provider_presets",
]


class ProviderPreset(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook sender whose signature scheme the ingest endpoint verifies."""

    id: str
    name: str
    auth_mode: str
    signature_header: str
    category: str
    docs_url: str
    description: str
    # What POST /v1/sources/{id}/test-events can send for this provider, the default first.
    sample_event_types: tuple[str, ...] = ()


class DestinationPreset(msgspec.Struct, frozen=True, kw_only=True):
    """A kind of delivery target, with an example URL and the auth it usually needs."""

    id: str
    name: str
    description: str
    url_hint: str
    auth_type: str | None  # None | "bearer" | "basic" | "api_key"
    extra_headers: dict[str, str]
    docs_url: str | None


_PROVIDER_PRESETS = (
    ProviderPreset(
        id="stripe",
        name="Stripe",
        auth_mode="stripe",
        signature_header="Stripe-Signature",
        category="payments",
        docs_url="https://docs.stripe.com/webhooks/signature",
        description=(
            "Verifies Stripe-Signature (t=...,v1=...): HMAC-SHA256 over '{t}.{body}' with the "
            "endpoint's whsec_ secret, timestamps within 300 s. Event type from the body's "
            "'type', event id from 'id'."
        ),
        sample_event_types=sample_event_types("stripe"),
    ),
    ProviderPreset(
        id="github",
        name="GitHub",
        auth_mode="github",
        signature_header="X-Hub-Signature-256",
        category="developer_tools",
        docs_url="https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
        description=(
            "Verifies X-Hub-Signature-256 (sha256=<hex HMAC-SHA256 of the body>). Event type from "
            "X-GitHub-Event plus the body's 'action' (e.g. issues.opened), id from "
            "X-GitHub-Delivery."
        ),
        sample_event_types=sample_event_types("github"),
    ),
    ProviderPreset(
        id="shopify",
        name="Shopify",
        auth_mode="shopify",
        signature_header="X-Shopify-Hmac-Sha256",
        category="ecommerce",
        docs_url="https://shopify.dev/docs/apps/build/webhooks/subscribe/https",
        description=(
            "Verifies X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256 of the body with the app's "
            "client secret). Event type from X-Shopify-Topic, id from X-Shopify-Webhook-Id."
        ),
        sample_event_types=sample_event_types("shopify"),
    ),
    ProviderPreset(
        id="slack",
        name="Slack",
        auth_mode="slack",
        signature_header="X-Slack-Signature",
        category="communication",
        docs_url="https://api.slack.com/authentication/verifying-requests-from-slack",
        description=(
            "Verifies X-Slack-Signature (v0=<hex HMAC-SHA256 of "
            "'v0:{X-Slack-Request-Timestamp}:{body}'> with the signing secret), timestamps "
            "within 300 s. Event type from the body's event.type."
        ),
        sample_event_types=sample_event_types("slack"),
    ),
    ProviderPreset(
        id="standard_webhooks",
        name="Standard Webhooks",
        auth_mode="standard_webhooks",
        signature_header="webhook-signature",
        category="standard",
        docs_url="https://www.standardwebhooks.com/",
        description=(
            "Verifies webhook-signature (v1,<base64 HMAC-SHA256 of "
            "'{webhook-id}.{webhook-timestamp}.{body}'>) with a whsec_ secret, as sent by Svix, "
            "GetHook and other Standard Webhooks senders. Event id from webhook-id."
        ),
        sample_event_types=sample_event_types("standard_webhooks"),
    ),
)


def _destination_preset_table() -> tuple[DestinationPreset, ...]:
    """Build the destination presets afresh: they hold dicts, which callers could mutate."""
    return (
        DestinationPreset(
            id="slack",
            name="Slack incoming webhook",
            description=(
                "Posts to a Slack channel through an incoming webhook URL (the URL is the "
                'secret). Slack accepts only Slack message JSON such as {"text": "..."}.'
            ),
            url_hint="https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            auth_type=None,
            extra_headers={},
            docs_url="https://api.slack.com/messaging/webhooks",
        ),
        DestinationPreset(
            id="discord",
            name="Discord webhook",
            description=(
                "Posts to a Discord channel through a channel webhook URL (the URL is the "
                'secret). Discord accepts only message JSON such as {"content": "..."}.'
            ),
            url_hint="https://discord.com/api/webhooks/123456789012345678/XXXXXXXXXXXXXXXX",
            auth_type=None,
            extra_headers={},
            docs_url="https://discord.com/developers/docs/resources/webhook#execute-webhook",
        ),
        DestinationPreset(
            id="microsoft_teams",
            name="Microsoft Teams",
            description=(
                "Posts to a Teams channel through a Workflows (Power Automate) webhook URL or a "
                "legacy incoming-webhook connector URL. Teams accepts only message card or "
                "Adaptive Card JSON."
            ),
            url_hint=(
                "https://prod-00.westus.logic.azure.com:443/workflows/<id>/triggers/manual/"
                "paths/invoke?api-version=2016-06-01&sig=<signature>"
            ),
            auth_type=None,
            extra_headers={},
            docs_url=(
                "https://learn.microsoft.com/en-us/microsoftteams/platform/"
                "webhooks-and-connectors/how-to/add-incoming-webhook"
            ),
        ),
        DestinationPreset(
            id="generic_http",
            name="Generic HTTP endpoint",
            description=(
                "Any HTTPS endpoint you run. Verify the Standard Webhooks signature headers "
                "with the destination's signing secret; add bearer, basic or API-key auth if "
                "your endpoint wants it."
            ),
            url_hint="https://api.example.com/webhooks",
            auth_type=None,
            extra_headers={},
            docs_url="https://www.standardwebhooks.com/",
        ),
        DestinationPreset(
            id="local_dev",
            name="Local development server",
            description=(
                "A server on this machine, for development. Needs private destinations to be "
                "allowed (the default)."
            ),
            url_hint="http://127.0.0.1:3000/webhooks",
            auth_type=None,
            extra_headers={},
            docs_url=None,
        ),
    )


def provider_presets() -> tuple[ProviderPreset, ...]:
    """Return every provider preset, in display order."""
    return _PROVIDER_PRESETS


def get_provider_preset(preset_id: str) -> ProviderPreset | None:
    """Return the provider preset with this id, or None."""
    return next((preset for preset in _PROVIDER_PRESETS if preset.id == preset_id), None)


def destination_presets() -> tuple[DestinationPreset, ...]:
    """Return every destination preset, in display order (fresh objects on every call)."""
    return _destination_preset_table()


def get_destination_preset(preset_id: str) -> DestinationPreset | None:
    """Return the destination preset with this id, or None."""
    return next((preset for preset in _destination_preset_table() if preset.id == preset_id), None)
