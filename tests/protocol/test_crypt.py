"""Known answers computed with coreutils md5sum and `openssl enc -aes-256-ecb -nopad`."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ejoin.protocol import crypt

SESSION = "0123456789abcdef0123456789abcdef"
AUTH0 = "8e064d3cea40fb69afc5be4760b67925"  # md5("rootroot123456/crypt_sess.json")


def test_handshake_auth_known_answer():
    assert crypt.handshake_auth("root", "root", "123456") == AUTH0


def test_request_auth_known_answer():
    assert crypt.request_auth("root", "root", SESSION, 1, "/goip_pause_sms.html") == "56f04c890fad5025d86c913d1ca5f11a"


def test_key_and_ciphertext_known_answer():
    key = crypt.session_key("root", "root", AUTH0, SESSION, 1)
    assert key == b"7ccac593fa58d55ef42977fa4115ae9e" and len(key) == 32  # AES-256 from 32 ASCII characters
    ciphertext = crypt.encrypt(key, b'{"tids":[0]}')
    assert ciphertext.hex() == "1eccb3efa675d1bc77b8cecea7c145d3"
    assert crypt.decrypt(key, ciphertext) == b'{"tids":[0]}'


def test_zero_padding():
    assert crypt.zero_pad(b"") == b""
    assert crypt.zero_pad(b"a") == b"a" + b"\0" * 15
    assert len(crypt.zero_pad(b"x" * 16)) == 16
    assert crypt.zero_unpad(b"ab\0\0") == b"ab"


@pytest.mark.parametrize("bad", [b"x", b"x" * 15, b"x" * 17])
def test_ciphertext_of_the_wrong_length(bad):
    with pytest.raises(crypt.CryptError, match="multiple of 16"):
        crypt.decrypt(b"k" * 32, bad)


@given(st.binary(max_size=300).map(lambda b: b.rstrip(b"\0")), st.integers(0, 2**31))
def test_round_trip(plaintext, seq):
    key = crypt.session_key("u", "p", AUTH0, SESSION, seq)
    assert crypt.decrypt(key, crypt.encrypt(key, plaintext)) == plaintext


def test_push_signature():
    sig = crypt.sign_push("s3cret", 1767225600, b'{"type":"recv-sms"}')
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert crypt.verify_push("s3cret", 1767225600, b'{"type":"recv-sms"}', sig)
    assert not crypt.verify_push("s3cret", 1767225601, b'{"type":"recv-sms"}', sig)
    assert not crypt.verify_push("other", 1767225600, b'{"type":"recv-sms"}', sig)
