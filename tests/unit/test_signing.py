"""Standard Webhooks signing, checked against an independent implementation of the spec."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from gethook_lite.delivery.signing import (
    SigningKey,
    decode_signing_secret,
    generate_signing_secret,
    keyed_signature_header,
    sign,
    signature_header,
    verify_signature,
)

# Published in the Standard Webhooks specification and its reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def reference_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The spec, written out independently: HMAC-SHA256 of '{id}.{ts}.{body}', base64, 'v1,'."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.split("_", 1)[1])
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_spec_test_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert reference_sign(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "body"),
    [
        ("evt_01", 1_700_000_000, b""),
        ("evt_02", 0, b'{"a": 1}'),
        ("evt.with.dots", 2_000_000_000, b"\x00\xff binary \r\n"),
        ("evt_unicode", 1_700_000_001, "héllo ✓".encode()),
    ],
)
def test_sign_matches_reference(msg_id: str, timestamp: int, body: bytes) -> None:
    secret = generate_signing_secret()
    assert sign(secret, msg_id, timestamp, body) == reference_sign(secret, msg_id, timestamp, body)


def test_generated_secret_shape() -> None:
    secret = generate_signing_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_") :], validate=True)) == 32
    assert decode_signing_secret(secret) == base64.b64decode(secret[len("whsec_") :])
    assert generate_signing_secret() != secret


def test_decode_accepts_missing_padding() -> None:
    key = bytes(range(32))
    unpadded = "whsec_" + base64.b64encode(key).decode().rstrip("=")
    assert decode_signing_secret(unpadded) == key


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_",
        "whsec_not base64!",
        "whsec_" + "é" * 32,
        "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),  # wrong alphabet
        "whsk_" + base64.b64encode(bytes(32)).decode(),
    ],
)
def test_decode_rejects_malformed(secret: str) -> None:
    with pytest.raises(ValueError, match="signing_secret must be whsec_ followed by base64"):
        decode_signing_secret(secret)


@pytest.mark.parametrize("size", [1, 16, 23, 65, 128])
def test_decode_rejects_bad_key_length(size: int) -> None:
    with pytest.raises(ValueError, match="between 24 and 64 bytes"):
        decode_signing_secret("whsec_" + base64.b64encode(bytes(size)).decode())


@pytest.mark.parametrize("size", [24, 32, 64])
def test_decode_accepts_key_lengths(size: int) -> None:
    assert decode_signing_secret("whsec_" + base64.b64encode(bytes(size)).decode()) == bytes(size)


def test_signature_header_one_per_secret_current_first() -> None:
    current, previous = generate_signing_secret(), generate_signing_secret()
    header = signature_header([current, previous], "evt_1", 1_700_000_000, b"{}")
    assert header.split(" ") == [
        reference_sign(current, "evt_1", 1_700_000_000, b"{}"),
        reference_sign(previous, "evt_1", 1_700_000_000, b"{}"),
    ]
    assert signature_header([SPEC_SECRET], SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_a_key_made_once_signs_message_after_message_as_the_spec_does() -> None:
    # The dispatcher keys a destination's secret once and signs every attempt with it: the
    # keyed state must come out of each signature unchanged.
    current, previous = SigningKey(SPEC_SECRET), SigningKey(generate_signing_secret())
    for _ in range(3):
        assert current.sign(SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    secret = generate_signing_secret()
    key = SigningKey(secret)
    for n in range(3):
        body = b"x" * n
        assert key.sign(f"evt_{n}", n, body) == reference_sign(secret, f"evt_{n}", n, body)
    keyed = keyed_signature_header([current, previous], SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert keyed.split(" ")[0] == SPEC_SIGNATURE
    assert keyed.split(" ")[1] == previous.sign(SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)
    with pytest.raises(ValueError):
        keyed_signature_header([], "evt_1", 1, b"")


def test_signature_header_needs_a_secret_list() -> None:
    with pytest.raises(ValueError):
        signature_header([], "evt_1", 1, b"")
    with pytest.raises(TypeError):
        signature_header(SPEC_SECRET, "evt_1", 1, b"")  # type: ignore[arg-type]


def test_verify_signature() -> None:
    other = generate_signing_secret()
    rotated = signature_header([other, SPEC_SECRET], SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert verify_signature(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE)
    assert verify_signature(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, rotated)
    assert not verify_signature(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, b"{}", SPEC_SIGNATURE)
    assert not verify_signature(SPEC_SECRET, "msg_other", SPEC_TIMESTAMP, SPEC_BODY, rotated)
    assert not verify_signature(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP + 1, SPEC_BODY, rotated)
    assert not verify_signature(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, "")
    # Only v1 signatures count, even if the bytes after the comma match.
    v2 = "v2," + SPEC_SIGNATURE.split(",", 1)[1]
    assert not verify_signature(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY, v2)
