"""Spec 3's secure session and push signatures: pure functions, no state.

- handshake: ``auth0 = md5hex(username + password + cnonce + "/crypt_sess.json")``
- each later request: ``auth = md5hex(username + password + session + str(seq) + path)``
- ``crypt=aes-ecb``: the key is the 32 ASCII characters of
  ``md5hex(username + password + auth0 + session + str(seq))`` used as an
  AES-256 key, ECB mode, the plaintext zero-padded to 16 bytes.
- pushes may carry ``X-Ejoin-Signature: sha256=<hmac(secret, ts + "." + body)>``
  with ``X-Ejoin-Timestamp: ts`` (our extension, DECISIONS in docs/).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "HANDSHAKE_PATH",
    "CryptError",
    "md5hex",
    "handshake_auth",
    "request_auth",
    "session_key",
    "zero_pad",
    "zero_unpad",
    "encrypt",
    "decrypt",
    "sign_push",
    "verify_push",
]

HANDSHAKE_PATH = "/crypt_sess.json"
BLOCK = 16


class CryptError(ValueError):
    pass


def md5hex(*parts: str) -> str:
    return hashlib.md5("".join(parts).encode("utf-8"), usedforsecurity=False).hexdigest()


def handshake_auth(username: str, password: str, cnonce: str) -> str:
    return md5hex(username, password, cnonce, HANDSHAKE_PATH)


def request_auth(username: str, password: str, session: str, seq: int, path: str) -> str:
    return md5hex(username, password, session, str(seq), path)


def session_key(username: str, password: str, auth0: str, session: str, seq: int) -> bytes:
    return md5hex(username, password, auth0, session, str(seq)).encode("ascii")


def zero_pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def zero_unpad(data: bytes) -> bytes:
    return data.rstrip(b"\0")


def encrypt(key: bytes, plaintext: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - the protocol's choice
    return enc.update(zero_pad(plaintext)) + enc.finalize()


def decrypt(key: bytes, ciphertext: bytes) -> bytes:
    if len(ciphertext) % BLOCK:
        raise CryptError(f"the ciphertext is {len(ciphertext)} bytes, not a multiple of {BLOCK}")
    if not ciphertext:
        return b""  # an empty body stays empty
    dec = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305
    return zero_unpad(dec.update(ciphertext) + dec.finalize())


def sign_push(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_push(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign_push(secret, timestamp, body), signature)
