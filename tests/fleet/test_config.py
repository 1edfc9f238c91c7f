"""The fleet's TOML file: members, their port ranges, and refusals a person understands."""

from __future__ import annotations

from pathlib import Path

import pytest

from ejoin.fleet.config import load_fleet_config
from ejoin.fleet.engine.numbering import PortMap
from ejoin.gateway.config import ConfigError
from ejoin.protocol.ports import PortAddress

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fleet.toml"


def test_the_example_loads() -> None:
    config = load_fleet_config(EXAMPLE)
    assert [(m.name, m.first, m.last) for m in config.members] == [("rack1", 1, 32), ("rack2", 33, 64)]
    assert config.ports == 64


def test_ports_map_in_order_onto_each_member() -> None:
    config = load_fleet_config(EXAMPLE)
    ports = PortMap(config.members)
    member, local = ports.to_member(PortAddress(33, 2))  # type: ignore[misc]
    assert (member.name, local) == ("rack2", PortAddress(1, 2))
    assert ports.rename(member, "1.02") == "33.02"
    assert ports.rename(member, "33.01") == "33.01"  # past its range: not renamed into a wrong port
    assert ports.to_member(PortAddress(65)) is None


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([{"url": "http://a", "ports": "1-8"}, {"url": "http://b", "ports": "8-9"}], "both claim port 8"),
        ([{"url": "http://a", "ports": "8-1"}], "low to high"),
        ([{"url": "http://a"}], "ports is required"),
        ([{"url": "ftp://a", "ports": "1-2"}], "http:// or https://"),
        ([{"url": "http://a", "ports": "1-2", "colour": "red"}], "unknown keys colour"),
        ([{"url": "http://a", "ports": "1-2", "secure": "no"}], "secure is true or false"),
        ([{"url": "http://a", "ports": "1-2", "crypt": "aes-cbc"}], 'crypt is "aes-ecb"'),
        ([{"url": "http://a/\r\nX-Evil: 1", "ports": "1-2"}], "control character"),
        ([{"url": "", "ports": "1-2"}], "url is required"),
        ([{"url": "http://a:99999", "ports": "1-2"}], "is not a URL"),
    ],
)
def test_bad_members_are_refused_with_a_reason(members: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_fleet_config(None, {"member": members})


def test_the_store_is_sqlite_or_a_postgresql_url() -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    assert load_fleet_config(None, {"db": "postgresql://fleet@db/fleet", "member": one}).db.startswith("postgresql:")
    assert load_fleet_config(None, {"db": "sqlite:/tmp/f.sqlite3", "member": one}).lease == 10.0
    with pytest.raises(ConfigError, match="sqlite:PATH or a postgresql://... URL, not 'mysql'"):
        load_fleet_config(None, {"db": "mysql://x/y", "member": one})
    with pytest.raises(ConfigError, match="lease is at least 1 second"):
        load_fleet_config(None, {"db": "postgresql://x/y", "lease": 0.1, "member": one})


def test_policy_and_quotas_are_checked() -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    with pytest.raises(ConfigError, match='"least-busy" or "round-robin"'):
        load_fleet_config(None, {"policy": "random", "member": one})
    with pytest.raises(ConfigError, match="0 \\(no limit\\) or more"):
        load_fleet_config(None, {"sim_day_quota": -1, "member": one})


def test_the_fleet_takes_the_edge_keys() -> None:
    config = load_fleet_config(None, {"allowed_origins": "https://a.example", "max_connections": 50})
    assert config.allowed_origins == ["https://a.example"] and config.max_connections == 50
    with pytest.raises(ConfigError, match="allowed_origins"):
        load_fleet_config(None, {"allowed_origins": ["ftp://x"]})
    with pytest.raises(ConfigError, match="max_connections"):
        load_fleet_config(None, {"max_connections": 0})


def test_the_public_url_and_numbers_are_checked() -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    assert load_fleet_config(None, {"public_url": " http://lb:8090 ", "member": one}).public_url == "http://lb:8090"
    with pytest.raises(ConfigError, match="public_url: .* control character"):
        load_fleet_config(None, {"public_url": "http://lb\n:8090", "member": one})
    with pytest.raises(ConfigError, match="public_url: .* not an http"):
        load_fleet_config(None, {"public_url": "lb:8090", "member": one})
    # TOML has nan and inf: they pass every "> 0" check
    for key, value in (("status_poll", float("nan")), ("member_timeout", float("inf")), ("lease", "10")):
        with pytest.raises(ConfigError, match=f"{key} is a number"):
            load_fleet_config(None, {key: value, "member": one})


def test_password_or_password_file_and_the_flag_wins(tmp_path: Path) -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    path = tmp_path / "fleet.toml"
    path.write_text('password = "x"\npassword_file = "pw"\n[[member]]\nurl = "http://a"\nports = "1-2"\n')
    with pytest.raises(ConfigError, match="give password or password_file, not both"):
        load_fleet_config(path)
    assert load_fleet_config(None, {"password_file": "pw", "member": one}).password_file == "pw"
    path.write_text('password_file = "pw"\n[[member]]\nurl = "http://a"\nports = "1-2"\n')
    c = load_fleet_config(path, {"password": "given"})
    assert (c.password, c.password_file) == ("given", "")
