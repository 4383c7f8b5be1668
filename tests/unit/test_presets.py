"""Provider and destination presets."""

from __future__ import annotations

import msgspec
import pytest

from gethook_lite.presets import (
    DestinationPreset,
    ProviderPreset,
    destination_presets,
    get_destination_preset,
    get_provider_preset,
    provider_presets,
)

# The public GetHook API's inbound verification schemes (docs/wire.md, "Presets").
KNOWN_AUTH_MODES = {
    "none",
    "hmac",
    "basic_auth",
    "api_key",
    "stripe",
    "github",
    "shopify",
    "slack",
    "standard_webhooks",
}
PROVIDER_IDS = {"stripe", "github", "shopify", "slack", "standard_webhooks"}
DESTINATION_IDS = {"slack", "discord", "microsoft_teams", "generic_http", "local_dev"}
AUTH_TYPES = {None, "bearer", "basic", "api_key"}


def test_provider_presets() -> None:
    presets = provider_presets()
    ids = [preset.id for preset in presets]
    assert len(ids) == len(set(ids))
    assert set(ids) == PROVIDER_IDS
    for preset in presets:
        assert isinstance(preset, ProviderPreset)
        assert preset.auth_mode in KNOWN_AUTH_MODES
        assert preset.auth_mode == preset.id
        assert preset.name and preset.signature_header and preset.category and preset.description
        assert preset.docs_url.startswith("https://")


def test_destination_presets() -> None:
    presets = destination_presets()
    ids = [preset.id for preset in presets]
    assert len(ids) == len(set(ids))
    assert set(ids) == DESTINATION_IDS
    for preset in presets:
        assert isinstance(preset, DestinationPreset)
        assert preset.auth_type in AUTH_TYPES
        assert preset.name and preset.description
        assert preset.url_hint.startswith(("https://", "http://"))
        assert preset.docs_url is None or preset.docs_url.startswith("https://")
        assert all(
            isinstance(k, str) and isinstance(v, str) for k, v in preset.extra_headers.items()
        )
    assert get_destination_preset("local_dev").url_hint.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("preset_id", sorted(PROVIDER_IDS))
def test_get_provider_preset(preset_id: str) -> None:
    preset = get_provider_preset(preset_id)
    assert preset is not None and preset.id == preset_id


@pytest.mark.parametrize("preset_id", sorted(DESTINATION_IDS))
def test_get_destination_preset(preset_id: str) -> None:
    preset = get_destination_preset(preset_id)
    assert preset is not None and preset.id == preset_id


@pytest.mark.parametrize("preset_id", ["", "nope", "STRIPE", "hmac"])
def test_unknown_ids(preset_id: str) -> None:
    assert get_provider_preset(preset_id) is None
    assert get_destination_preset(preset_id) is None


def test_presets_encode_to_json_with_every_field() -> None:
    provider = msgspec.json.decode(msgspec.json.encode(provider_presets()))
    assert set(provider[0]) == {
        "id",
        "name",
        "auth_mode",
        "signature_header",
        "category",
        "docs_url",
        "description",
        "sample_event_types",
    }
    destination = msgspec.json.decode(msgspec.json.encode(destination_presets()))
    assert set(destination[0]) == {
        "id",
        "name",
        "description",
        "url_hint",
        "auth_type",
        "extra_headers",
        "docs_url",
    }


def test_presets_cannot_be_changed_through_a_result() -> None:
    with pytest.raises(AttributeError):
        provider_presets()[0].id = "x"  # type: ignore[misc]
    destination_presets()[0].extra_headers["X-Injected"] = "1"
    assert destination_presets()[0].extra_headers == {}
