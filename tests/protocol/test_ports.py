import pytest
from hypothesis import given
from hypothesis import strategies as st

from ejoin.protocol.ports import (
    DeviceSize,
    PortAddress,
    PortNameStyle,
    PortSpecError,
    address_of_index,
    array_index,
    parse_number_list,
    parse_port_spec,
)

SIZE = DeviceSize(32, 8)
P = PortAddress


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("1", [P(1)]),
        (1, [P(1)]),
        ("1A", [P(1, 1)]),
        ("1b", [P(1, 2)]),
        ("32H", [P(32, 8)]),
        ("1.01", [P(1, 1)]),
        ("1.1", [P(1, 1)]),
        ("21.08", [P(21, 8)]),
        ("4-6", [P(4), P(5), P(6)]),
        ("1,2,4-6", [P(1), P(2), P(4), P(5), P(6)]),
        ("1.01,2.02,4-5", [P(1, 1), P(2, 2), P(4), P(5)]),
        (" 3 , 1 ", [P(3), P(1)]),
        ("2,2,1-2", [P(2), P(1)]),  # duplicates dropped, first order kept
        ("all", [P(p) for p in range(1, 33)]),
        ("*", [P(p) for p in range(1, 33)]),
        ("ALL", [P(p) for p in range(1, 33)]),
    ],
)
def test_every_notation_seen_in_the_wild(spec, expected):
    assert parse_port_spec(spec, SIZE) == expected


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("0", "numbered from 1"),
        ("99.99", "port 99 does not exist"),
        ("33", "port 33 does not exist"),
        ("1.09", "slot 9 does not exist"),
        ("1.0", "slots are numbered from 1"),
        ("1I", "slot 9 does not exist"),
        ("1-", "is not a port"),
        ("A1", "is not a port"),
        ("", "no port given"),
        ("1,,2", "is not a port"),
        ("6-4", "low to high"),
        ("1.001", "is not a port"),
        ("1.01-1.04", "is not a port"),
        ("-1", "is not a port"),
        (True, "is not a port"),
    ],
)
def test_bad_notation_is_an_error_that_says_why(spec, fragment):
    with pytest.raises(PortSpecError) as exc:
        parse_port_spec(spec, SIZE)
    assert fragment in str(exc.value)


def test_names_in_both_styles():
    assert P(1, 1).dotted == "1.01"
    assert P(32, 4).dotted == "32.04"
    assert P(2, 2).letter == "2B"
    assert P(5).dotted == "5"
    assert P(3, 30).letter == "3.30"  # past Z only dotted can say it
    assert P(2, 2).name(PortNameStyle.LETTER) == "2B"


def test_array_index_matches_the_spec_examples():
    four = DeviceSize(16, 4)
    # 6.4.3: 21 means 6B, 51 means 13D with 4 slots per port
    assert array_index(P(6, 2), four) == 21
    assert array_index(P(13, 4), four) == 51
    # 6.4.4: 192 is 25.01 and 196 is 25.05 with max-slot 8
    eight = DeviceSize(32, 8)
    assert array_index(P(25, 1), eight) == 192
    assert address_of_index(196, eight) == P(25, 5)


def test_index_outside_the_device_is_an_error():
    with pytest.raises(PortSpecError, match="outside 0..255"):
        address_of_index(256, SIZE)
    with pytest.raises(PortSpecError):
        address_of_index(-1, SIZE)
    with pytest.raises(PortSpecError, match="whole port"):
        array_index(P(1), SIZE)


sizes = st.builds(DeviceSize, st.integers(1, 64), st.integers(1, 32))


@given(sizes, st.data())
def test_dotted_and_letter_names_parse_back(size, data):
    port = data.draw(st.integers(1, size.ports))
    slot = data.draw(st.integers(1, size.slots))
    addr = P(port, slot)
    assert parse_port_spec(addr.dotted, size) == [addr]
    assert parse_port_spec(addr.letter, size) == [addr]
    assert parse_port_spec(str(port), size) == [P(port)]


@given(sizes, st.data())
def test_array_index_is_a_bijection(size, data):
    index = data.draw(st.integers(0, size.ports * size.slots - 1))
    assert array_index(address_of_index(index, size), size) == index


@given(st.text(max_size=30))
def test_any_text_parses_or_fails_cleanly(text):
    try:
        result = parse_port_spec(text, SIZE)
    except PortSpecError:
        return
    assert all(1 <= a.port <= 32 and (a.slot is None or 1 <= a.slot <= 8) for a in result)


def test_number_lists_for_selectors():
    assert parse_number_list("1-2,4", 8) == [1, 2, 4]
    assert parse_number_list("all", 8) is None
    assert parse_number_list(None, 8) is None
    assert parse_number_list(3, 8) == [3]
    with pytest.raises(PortSpecError, match="numbered 1 to 8"):
        parse_number_list("9", 8)
    with pytest.raises(PortSpecError, match="not a slot number"):
        parse_number_list("1A", 8, "slot")


def test_parse_exactly_one():
    assert PortAddress.parse("3.02", SIZE) == P(3, 2)
    with pytest.raises(PortSpecError, match="names 2 ports"):
        PortAddress.parse("1,2", SIZE)
