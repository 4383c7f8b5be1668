"""Secrets at rest and credentials: encryption of stored secrets, API keys, passwords."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

__all__ = [
    "API_KEY_PREFIX",
    "KEY_CHECK_PLAINTEXT",
    "KEY_FILE",
    "EncryptionKeyError",
    "PasswordHashing",
    "SecretBox",
    "api_key_hash_matches",
    "check_key_format",
    "generate_api_key",
    "hash_api_key",
    "key_prefix",
    "load_or_create_key",
    "random_token",
]

API_KEY_PREFIX = "hk_"
_KEY_ALPHABET = string.ascii_letters + string.digits
# The generated key's file in the data directory (backups carry it beside the database).
KEY_FILE = "secret.key"
_KEY_FILE = KEY_FILE
# Encrypted into instance_meta at first start; decrypting it proves the key is the right one.
KEY_CHECK_PLAINTEXT = "gethook-lite key check"


class EncryptionKeyError(ValueError):
    """The encryption key is missing, malformed or not the one the database was written with.

    The message is one line naming the setting or file and what to do."""


def load_or_create_key(configured: str, data_dir: Path, *, create: bool = True) -> bytes:
    """The Fernet key: from configuration, else read from (or generated once into) the data dir.

    ``create=False`` when the database already holds secrets: a fresh key could not open
    them, so a missing key file is an error rather than a reason to generate one.
    """
    if configured:
        key = configured.encode()
        source = "storage.encryption_key"
    else:
        path = data_dir / KEY_FILE
        source = str(path)
        if not path.exists():
            if not create:
                raise EncryptionKeyError(
                    f"{path} is missing but the database holds secrets encrypted with it;"
                    " restore the secret.key backed up with gethook.db"
                    " (or set storage.encryption_key to that key)"
                )
            # O_EXCL + 0600: never overwrite a key (that would orphan every stored secret).
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(Fernet.generate_key())
        key = path.read_bytes().strip()
    check_key_format(key, source)
    return key


def check_key_format(key: bytes, source: str = "storage.encryption_key") -> None:
    """Refuse a key Fernet cannot use, naming where it came from and how to make one."""
    try:
        Fernet(key)
    except ValueError:
        raise EncryptionKeyError(
            f"{source}: must be 32 url-safe base64-encoded bytes (a Fernet key); make one with"
            " python3 -c 'from cryptography.fernet import Fernet;"
            " print(Fernet.generate_key().decode())'"
        ) from None


class SecretBox:
    """Authenticated encryption (Fernet) for secrets stored in the database."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def opens(self, token: str) -> bool:
        """Whether this key decrypts ``token`` (written with the same key)."""
        try:
            self._fernet.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "a stored secret cannot be decrypted with this encryption key"
            ) from None


def random_token(length: int = 32) -> str:
    """A URL-safe random token of ``length`` characters (about 5.95 bits each)."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(length))


def generate_api_key() -> str:
    """A new API key: ``hk_`` + 40 random letters and digits (≈ 238 bits)."""
    return API_KEY_PREFIX + random_token(40)


def hash_api_key(key: str) -> str:
    # Keys carry ~238 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    """Enough of a key to recognise it in a list, far too little to use it."""
    return key[:10]


def api_key_hash_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)


class PasswordHashing:
    """Argon2id password hashes."""

    def __init__(self, time_cost: int = 2, memory_cost_kib: int = 19_456) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost_kib)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
