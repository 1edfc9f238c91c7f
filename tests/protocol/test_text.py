import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ejoin.protocol.text import (
    _BASIC,
    _EXTENSION,
    Alphabet,
    TextError,
    decode_content,
    gsm7_septets,
    gsm7_text,
    segment,
)

GSM_CHARS = sorted(_BASIC) + sorted(_EXTENSION)


# Test vectors: (text, alphabet, units per part)
VECTORS = [
    ("hello123", "gsm7", (8,)),
    ("a" * 160, "gsm7", (160,)),
    ("a" * 161, "gsm7", (153, 8)),
    ("a" * 306, "gsm7", (153, 153)),
    ("a" * 307, "gsm7", (153, 153, 1)),
    ("€" * 80, "gsm7", (160,)),  # extension table: 2 septets each
    ("€" * 81, "gsm7", (152, 10)),  # 153 would split an escape pair
    ("a" * 152 + "[" + "a" * 10, "gsm7", (152, 12)),  # "[" would straddle the part boundary
    ("Ünìcödé àè ñ ÆØÅ", "gsm7", (16,)),  # all in the basic table
    ("naïve", "ucs2", (5,)),  # ï is not in GSM 03.38
    ("中" * 70, "ucs2", (70,)),
    ("中" * 71, "ucs2", (67, 4)),
    ("a" * 100 + "ç", "ucs2", (67, 34)),  # ç is not GSM-7 (only Ç is)
    ("😀" * 35, "ucs2", (70,)),  # surrogate pairs: 2 units
    ("😀" * 36, "ucs2", (66, 6)),  # 67 would split a pair
]


@pytest.mark.parametrize("text, alphabet, units", VECTORS)
def test_published_vectors(text, alphabet, units):
    s = segment(text)
    assert (s.alphabet.value, s.units) == (alphabet, units)
    assert "".join(s.parts) == text


def test_coding_forces_the_alphabet():
    assert segment("hello", 1).alphabet is Alphabet.UCS2
    s = segment("hi 中文", 2)
    assert s.alphabet is Alphabet.GSM7 and s.text == "hi ??"
    with pytest.raises(TextError, match="coding is 0, 1 or 2"):
        segment("x", 7)


def test_septets_match_the_gsm0338_codec():
    text = "".join(GSM_CHARS)
    assert gsm7_septets(text) == text.encode("gsm03.38")
    with pytest.raises(TextError):
        gsm7_septets("中")


def test_content_decoding():
    assert decode_content("hello", "utf8") == "hello"
    assert decode_content("hello", None) == "hello"
    assert decode_content(base64.b64encode("你好".encode()).decode(), "base64") == "你好"
    with pytest.raises(TextError, match="not valid base64"):
        decode_content("@@@", "base64")
    with pytest.raises(TextError, match="not UTF-8"):
        decode_content(base64.b64encode(b"\xff\xfe").decode(), "base64")
    with pytest.raises(TextError, match="chs is utf8 or base64"):
        decode_content("x", "latin1")


def _check(s, single, multi):
    assert "".join(s.parts) == s.text
    if s.count == 1:
        assert s.units[0] <= single
    else:
        assert all(0 < u <= multi for u in s.units)
        assert sum(s.units) > single


@given(st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=700))
def test_gsm7_parts_are_within_limits_and_never_split_an_escape(text):
    s = segment(text)
    assert s.alphabet is Alphabet.GSM7
    _check(s, 160, 153)
    for part, units in zip(s.parts, s.units, strict=False):
        assert len(gsm7_septets(part)) == units  # whole characters only: escape pairs intact


@given(st.text(min_size=1, max_size=400).filter(lambda t: any(c not in _BASIC and c not in _EXTENSION for c in t)))
def test_ucs2_parts_are_within_limits_and_never_split_a_surrogate_pair(text):
    s = segment(text)
    assert s.alphabet is Alphabet.UCS2
    _check(s, 70, 67)
    for part, units in zip(s.parts, s.units, strict=False):
        assert len(part.encode("utf-16-le")) // 2 == units
        part.encode("utf-16-le")  # no lone surrogate: each part encodes on its own


@given(st.text(max_size=500), st.sampled_from([0, 1, 2]))
def test_any_text_any_coding_segments(text, coding):
    s = segment(text, coding)
    assert s.count >= 1
    single, multi = (160, 153) if s.alphabet is Alphabet.GSM7 else (70, 67)
    _check(s, single, multi)


@given(st.text(st.sampled_from(GSM_CHARS), max_size=200))
def test_septets_back_to_text(text):
    assert gsm7_text(gsm7_septets(text)) == text


def test_septets_the_extension_table_lacks():
    # TS 23.038: an unknown escaped code shows the basic character, a doubled escape a space
    assert gsm7_text(bytes((0x1B, 0x41, 0x1B, 0x1B, 0x42, 0x1B))) == "A B"
    assert gsm7_text(bytes((0x1B, 0x65, 0x00, 0x11))) == "€@_"
