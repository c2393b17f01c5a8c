"""Small secrets sealed at rest under the hub's key passphrase: AES-256-GCM in a versioned envelope.

The passphrase is the one that protects the hub's private keys (Settings.passphrase()). Each envelope carries
its own random salt; the key is scrypt(passphrase, salt), derived once per salt and process and kept in memory.
An envelope reads `v1.<base64url(salt | nonce | ciphertext+tag)>`; its version names the KDF and cipher, so a
later version can be introduced and older envelopes re-sealed when they are read.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

VERSION = "v1"
SALT_BYTES, NONCE_BYTES = 16, 12
# RFC 7914 scrypt: N=2^15, r=8 (32 MiB, tens of milliseconds here), once per salt: a guessed passphrase costs as much.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_KEEP_KEYS = 64  # derived keys kept per process (one per salt seen)


class SealError(Exception):
    """An envelope cannot be opened: another passphrase, another context, a damaged or unknown envelope."""


class Sealer:
    """Seal and open byte strings bound to a context (e.g. the row they belong to)."""

    def __init__(self, passphrase: bytes) -> None:
        self._passphrase = passphrase
        self._salt = os.urandom(SALT_BYTES)  # this process seals under one salt: one key derivation
        self._keys: dict[bytes, AESGCM] = {}
        self._lock = threading.Lock()

    def seal(self, plaintext: bytes, *, context: bytes) -> str:
        """Encrypt and authenticate the plaintext, bound to the context; return the envelope."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(self._salt).encrypt(nonce, plaintext, _aad(context))
        return f"{VERSION}.{base64.urlsafe_b64encode(self._salt + nonce + sealed).decode('ascii')}"

    def open(self, envelope: str, *, context: bytes) -> bytes:
        """Return the plaintext of an envelope sealed under this passphrase and context, or raise SealError."""
        version, _, body = envelope.partition(".")
        if version != VERSION:
            raise SealError(f"unknown envelope version {version!r}")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError):
            raise SealError("damaged envelope") from None
        if len(raw) < SALT_BYTES + NONCE_BYTES + 16:
            raise SealError("damaged envelope")
        salt, nonce, sealed = raw[:SALT_BYTES], raw[SALT_BYTES:SALT_BYTES + NONCE_BYTES], raw[SALT_BYTES + NONCE_BYTES:]
        try:
            return self._cipher(salt).decrypt(nonce, sealed, _aad(context))
        except InvalidTag:
            raise SealError("the envelope does not open with this passphrase and context") from None

    def _cipher(self, salt: bytes) -> AESGCM:
        with self._lock:
            cipher = self._keys.get(salt)
            if cipher is None:
                if len(self._keys) >= _KEEP_KEYS:
                    self._keys.clear()
                key = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(self._passphrase)
                cipher = self._keys[salt] = AESGCM(key)
            return cipher


def _aad(context: bytes) -> bytes:
    return f"hub-sealed/{VERSION}\x00".encode() + context
