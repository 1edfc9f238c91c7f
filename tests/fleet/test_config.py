"""The fleet's TOML file: members, their port ranges, and refusals a person understands."""

from __future__ import annotations

from pathlib import Path

import pytest

from ejoin.config import ConfigError
from ejoin.fleet.config import load_fleet_config, member_of
from ejoin.fleet.engine.numbering import PortMap
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
        (
            [{"url": "http://a", "ports": "1-8"}, {"url": "http://b", "ports": "8-9"}],
            "[[member]] #2 ports: port 8 is member m1's too (1-8)",
        ),
        (
            [{"name": "a", "url": "http://a", "ports": "1-8"}, {"name": "a", "url": "http://b", "ports": "9-9"}],
            "[[member]] #2 name: 'a' is [[member]] #1's name too",
        ),
        ([{"url": "http://a", "ports": "8-1"}], '[[member]] #1 ports: "8-1" must go from low to high within 1-256'),
        ([{"url": "http://a", "ports": "1"}], '[[member]] #1 ports: a range such as "1-32", not "1"'),
        ([{"url": "http://a"}], "[[member]] #1 ports: missing (this key is required)"),
        (
            [{"url": "http://a", "ports": 5}],
            '[[member]] #1 ports: expected the fleet ports it occupies, a range such as "1-32", not 5',
        ),
        ([{"url": "ftp://a", "ports": "1-2"}], "[[member]] #1 url: 'ftp://a' is not an http:// or https:// URL"),
        ([{"url": "http://a", "ports": "1-2", "colour": "red"}], "[[member]] #1 colour: unknown key"),
        (
            [{"url": "http://a", "ports": "1-2", "pasword": "x"}],
            "[[member]] #1 pasword: unknown key (did you mean password?)",
        ),
        (
            [{"url": "http://a", "ports": "1-2", "secure": "no"}],
            '[[member]] #1 secure: expected true or false, not "no"',
        ),
        (
            [{"url": "http://a", "ports": "1-2", "crypt": "aes-cbc"}],
            '[[member]] #1 crypt: expected "aes-ecb" (POST bodies encrypted) or nothing, not "aes-cbc"',
        ),
        (
            [{"url": "http://a", "ports": "1-2", "crypt": "aes-ecb", "secure": False}],
            "[[member]] #1 secure: crypt 'aes-ecb' needs a secure session; leave secure out or set it true",
        ),
        (
            [{"url": "", "ports": "1-2"}],
            "[[member]] #1 url: must not be empty (the member's http:// or https:// address)",
        ),
        ([{"url": "http://a", "ports": "1-2", "name": "a/b"}], '[[member]] #1 name: "a/b" must be 1-64 letters'),
        ([{"url": "http://a", "ports": "1-2", "name": "a\n"}], '[[member]] #1 name: "a\\n" must be 1-64 letters'),
        (["http://a"], '[[member]] #1: expected a table ([[member]]), not "http://a"'),
    ],
)
def test_bad_members_are_refused_with_a_reason(members: list, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_fleet_config(None, {"member": members})
    assert str(exc.value).startswith(message)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([{"url": "http://a/\r\nX-Evil: 1", "ports": "1-2"}], "control character"),
        ([{"url": "http://a:99999", "ports": "1-2"}], "is not a URL"),
    ],
)
def test_member_urls_a_request_cannot_reach_are_refused(members: list, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^\[\[member\]\] #1 url: .*{message}"):
        load_fleet_config(None, {"member": members})


def test_a_member_given_at_run_time_is_named_by_its_name() -> None:
    with pytest.raises(ConfigError) as exc:
        member_of({"name": "rack3", "url": "http://a", "ports": "9-2"}, 0, where="member rack3")
    assert str(exc.value) == 'member rack3: ports: "9-2" must go from low to high within 1-256'
    assert member_of({"name": "rack3", "url": "http://a/", "ports": "9-12", "secure": 1}, 0, "x").secure is True


def test_the_store_is_sqlite_or_a_postgresql_url() -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    assert load_fleet_config(None, {"db": "postgresql://fleet@db/fleet", "member": one}).db.startswith("postgresql:")
    assert load_fleet_config(None, {"db": "sqlite:/tmp/f.sqlite3", "member": one}).lease == 10.0
    with pytest.raises(ConfigError, match="^db: sqlite:PATH or a postgresql://... URL, not 'mysql'$"):
        load_fleet_config(None, {"db": "mysql://x/y", "member": one})
    with pytest.raises(ConfigError, match="^lease: expected a number of at least 1, not 0.1$"):
        load_fleet_config(None, {"db": "postgresql://x/y", "lease": 0.1, "member": one})


def test_policy_and_quotas_are_checked() -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    with pytest.raises(ConfigError, match='^policy: expected "least-busy" or "round-robin", not "random"$'):
        load_fleet_config(None, {"policy": "random", "member": one})
    with pytest.raises(ConfigError, match="^sim_day_quota: expected an integer of at least 0, not -1$"):
        load_fleet_config(None, {"sim_day_quota": -1, "member": one})


def test_the_fleet_takes_the_edge_keys() -> None:
    config = load_fleet_config(None, {"allowed_origins": ["https://a.example"], "max_connections": 50})
    assert config.allowed_origins == ["https://a.example"] and config.max_connections == 50
    with pytest.raises(ConfigError, match='^allowed_origins #1: "ftp://x" is not an origin'):
        load_fleet_config(None, {"allowed_origins": ["ftp://x"]})
    with pytest.raises(ConfigError, match="^max_connections: expected an integer of at least 1, not 0$"):
        load_fleet_config(None, {"max_connections": 0})


def test_the_public_url_and_numbers_are_checked() -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    assert load_fleet_config(None, {"public_url": " http://lb:8090 ", "member": one}).public_url == "http://lb:8090"
    with pytest.raises(ConfigError, match="^public_url: .* control character"):
        load_fleet_config(None, {"public_url": "http://lb\n:8090", "member": one})
    with pytest.raises(ConfigError, match="^public_url: .* not an http"):
        load_fleet_config(None, {"public_url": "lb:8090", "member": one})
    # TOML has nan and inf: they pass every "> 0" check
    for key, value, said in (
        ("status_poll", float("nan"), "expected a finite number, not nan"),
        ("member_timeout", float("inf"), "expected a finite number, not inf"),
        ("lease", "10", 'expected a number of at least 1, not "10"'),
    ):
        with pytest.raises(ConfigError) as exc:
            load_fleet_config(None, {key: value, "member": one})
        assert str(exc.value) == f"{key}: {said}"


def test_password_or_password_file_and_the_flag_wins(tmp_path: Path) -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    path = tmp_path / "fleet.toml"
    path.write_text('password = "x"\npassword_file = "pw"\n[[member]]\nurl = "http://a"\nports = "1-2"\n')
    with pytest.raises(ConfigError, match="password_file: give password or password_file, not both"):
        load_fleet_config(path)
    assert load_fleet_config(None, {"password_file": "pw", "member": one}).password_file == "pw"
    path.write_text('password_file = "pw"\n[[member]]\nurl = "http://a"\nports = "1-2"\n')
    c = load_fleet_config(path, {"password": "given"})
    assert (c.password, c.password_file) == ("given", "")


def test_smpp_accounts_are_read_and_replicas_are_refused_an_smpp_port() -> None:
    one = [{"url": "http://a", "ports": "1-2"}]
    accounts = [{"system_id": "kannel", "password": "secret", "throughput": 200}]
    config = load_fleet_config(None, {"smpp_port": 2775, "smpp_accounts": accounts, "member": one})
    assert [(a.system_id, a.password, a.throughput) for a in config.smpp_accounts] == [("kannel", "secret", 200.0)]
    with pytest.raises(ConfigError, match=r"\[\[smpp_accounts\]\] #1 port: unknown key"):
        load_fleet_config(None, {"smpp_accounts": [{"system_id": "x", "password": "y", "port": 1}], "member": one})
    with pytest.raises(
        ConfigError, match="smpp_port: works with the fleet.s own SQLite ledger only, not with PostgreSQL replicas"
    ):
        load_fleet_config(None, {"db": "postgresql://x/y", "smpp_port": 2775, "member": one})
