"""The one typed config loader (ejoin.config): the same refusals, in the same words, for a gateway's
file and a fleet's, and through each command (exit code 2, one line, no traceback)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ejoin import drivers
from ejoin.cli import main
from ejoin.config import ConfigError, Refused, ServerConfig, key_name, keys_of, typed
from ejoin.drivers import load_gateway_config
from ejoin.fleet.config import FleetConfig, MemberTable, load_fleet_config
from ejoin.gateway.config import GatewayConfig
from ejoin.sim.config import SimSettings, SimSpec, Timing

LOADERS: dict[str, Callable[..., Any]] = {"gateway": load_gateway_config, "fleet": load_fleet_config}


def test_the_keys_both_programs_have_are_declared_once():
    """Every key a gateway and a fleet both read is ServerConfig's: none is declared twice (a key
    added to both by hand fails here: declare it in ServerConfig)."""
    assert keys_of(GatewayConfig) & keys_of(FleetConfig) == keys_of(ServerConfig)
    assert {"host", "port", "password_file", "log_level", "tls_cert", "push_retry_window"} <= keys_of(ServerConfig)


def test_no_driver_declares_a_key_of_the_gateway():
    for name in drivers.names():
        settings = drivers.kind(name).settings
        if settings is not None:
            assert not keys_of(settings) & keys_of(GatewayConfig), name


@pytest.mark.parametrize(
    ("key", "said"),
    [
        (("lease",), "lease"),
        (("timing", "card_detect"), "[timing] card_detect"),
        (("modem", 1, "port"), "[[modem]] #2 port"),
        (("traffic", "senders", 0), "[traffic] senders #1"),
        (("ussd", "menus", "*150#"), '[ussd.menus] "*150#"'),
        (("a", "b", "c"), "[a.b] c"),
        (("calls", "0\n"), '[calls] "0\\n"'),  # a final newline is no bare key: the error stays one line
        ("[[member]] #3", "[[member]] #3"),
    ],
)
def test_a_key_is_named_as_it_is_found_in_the_file(key, said):
    assert key_name(key) == said


@pytest.mark.parametrize("program", ["gateway", "fleet"])
@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("prot = 1", "prot: unknown key (did you mean port?)"),
        ("passwrd = 'x'", "passwrd: unknown key (did you mean password?)"),
        ("colour = 'red'", "colour: unknown key"),
        ("port = '8080'", 'port: expected an integer from 0 to 65535, not "8080"'),
        ("port = 8080.0", "port: expected an integer from 0 to 65535, not 8080.0"),
        ("port = true", "port: expected an integer from 0 to 65535, not true"),
        ("max_body = 10", "max_body: expected an integer of at least 1024, not 10"),
        ("read_timeout = 0", "read_timeout: expected a number above 0, not 0"),
        ("read_timeout = nan", "read_timeout: expected a finite number, not nan"),
        ("username = ''", 'username: expected a non-empty string, not ""'),
        ("log_format = 'xml'", 'log_format: expected "text" or "json", not "xml"'),
        ("log_level = 'loud'", 'log_level: expected "debug", "info", "warning" or "error", not "loud"'),
        ("allowed_origins = 'https://a.example'", "allowed_origins: expected an array of origins such as"),
        ("allowed_origins = ['https://a.example', 'a.example']", 'allowed_origins #2: "a.example" is not an origin'),
        ("tls_key = 'k.pem'", "tls_key: tls_cert and tls_key go together: give both (PEM files) or neither"),
        ("password = 'x'\npassword_file = 'pw'", "password_file: give password or password_file, not both"),
        ("host = [1]", "host: expected a string, not an array"),
        ("[port]\nx = 1", "port: expected an integer from 0 to 65535, not a table"),
        ("port = ", "not valid TOML: Invalid value (at end of document)"),
    ],
)
def test_a_shared_key_is_refused_alike_by_both_programs(tmp_path, program, text, said):
    path = tmp_path / f"{program}.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        LOADERS[program](path)
    assert str(exc.value).startswith(f"{path}: {said}")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("program", ["gateway", "fleet"])
def test_a_file_that_cannot_be_read_is_one_line(tmp_path, program):
    with pytest.raises(ConfigError) as exc:
        LOADERS[program](tmp_path / "absent.toml")
    assert str(exc.value) == f"{tmp_path / 'absent.toml'}: cannot read it: No such file or directory"
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as exc:
        LOADERS[program](tmp_path / "binary.toml")
    assert str(exc.value) == f"{tmp_path / 'binary.toml'}: not valid TOML: it is not UTF-8 text"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('lease = "ten"', 'lease: expected a number of at least 1, not "ten"'),
        ("leese = 5", "leese: unknown key (did you mean lease?)"),
        ("member = 3", "member: expected an array of tables ([[member]]), not 3"),
        ("[[member]]\nurl = 'http://a'\nport = '1-2'", "[[member]] #1 port: unknown key (did you mean ports?)"),
        ("[[member]]\nurl = 'http://a'", "[[member]] #1 ports: missing (this key is required)"),
        (
            "[[member]]\nurl = 'http://a'\nports = '1-2'\n[[member]]\nurl = 'http://b'\nports = 3",
            '[[member]] #2 ports: expected the fleet ports it occupies, a range such as "1-32", not 3',
        ),
        ("policy = 'random'", 'policy: expected "least-busy" or "round-robin", not "random"'),
        ("status_poll = inf", "status_poll: expected a finite number, not inf"),
        ("public_url = 'lb:8090'", "public_url: 'lb:8090' is not an http:// or https:// URL"),
    ],
)
def test_the_fleets_own_keys_are_refused_the_same_way(tmp_path, text, said):
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_fleet_config(path)
    assert str(exc.value) == f"{path}: {said}"


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("program", "text", "said"),
    [
        ("gateway", "ports = 'many'", 'ports: expected an integer from 1 to 256, not "many"'),
        ("gateway", "[timing]\ncard_detec = 1", "[timing] card_detec: unknown key (did you mean card_detect?)"),
        ("gateway", "modems = 'at'\n[[modem]]\nport = 1\ndevice = 1", "[[modem]] #1 device: expected the serial line"),
        ("gateway", "ports = ", "not valid TOML: Invalid value (at end of document)"),
        ("fleet", 'lease = "ten"', 'lease: expected a number of at least 1, not "ten"'),
        ("fleet", "[[member]]\nurl = 'http://a'\nports = '1-2'\nsecure = 'yes'", "[[member]] #1 secure: expected true"),
        ("fleet", "log_format = 'xml'", 'log_format: expected "text" or "json", not "xml"'),
    ],
)
def test_the_commands_say_a_bad_file_in_one_line_and_exit_2(tmp_path, program, text, said):
    path = tmp_path / "c.toml"
    path.write_text(text)
    result = _run(program, "--config", str(path), "--data", str(tmp_path / "data"))
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"Error: {path}: {said}")
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()  # refused before anything started


@pytest.mark.parametrize("program", ["gateway", "fleet"])
def test_the_commands_name_a_bad_flag_as_the_flag(tmp_path, program):
    path = tmp_path / "c.toml"
    path.write_text("")
    result = _run(program, "--config", str(path), "--port", "70000", "--data", str(tmp_path / "data"))
    assert (result.exit_code, result.output) == (2, "Error: --port: expected an integer from 0 to 65535, not 70000\n")
    result = _run(program, "--config", str(path), "--allowed-origins", "https://a.example, ftp://b")
    assert result.exit_code == 2
    assert result.output.startswith('Error: --allowed-origins: "ftp://b" is not an origin')
    result = _run(program, "--config", str(path), "--log-level", "loud")  # click's own choice: a usage error
    assert result.exit_code == 2 and "'loud' is not one of" in result.output


def test_the_flags_show_the_defaults_of_the_keys():
    gateway = " ".join(_run("gateway", "-h").output.split())
    fleet = " ".join(_run("fleet", "-h").output.split())
    for words in ("[default: 8080]", "[default: ./ejoin-data]", "[default: simulated]", "--log-format"):
        assert words in gateway, words
    for words in ("[default: 8090]", "[default: ./ejoin-fleet]", "--log-level", "--log-format", "--password-file"):
        assert words in fleet, words


class _Inner(msgspec.Struct, forbid_unknown_fields=True):
    share: float = 0.5


class _Outer(msgspec.Struct, forbid_unknown_fields=True):
    inner: _Inner = msgspec.field(default_factory=_Inner)
    many: list[_Inner] = msgspec.field(default_factory=list)
    tags: dict[str, int] = msgspec.field(default_factory=dict)


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ({"inner": {"shar": 1}}, "[inner] shar: unknown key (did you mean share?)"),
        ({"many": [{}, {"share": "x"}]}, '[[many]] #2 share: expected a number, not "x"'),
        ({"tags": {"a": 1, "b": "2"}}, '[tags] b: expected an integer, not "2"'),
        ({"many": [{"share": float("-inf")}]}, "[[many]] #1 share: expected a finite number, not -inf"),
    ],
)
def test_any_struct_is_loaded_the_same_way(table: dict[str, Any], said: str):
    with pytest.raises(Refused) as exc:
        typed(_Outer, table)
    assert str(exc.value) == said
    assert typed(_Outer, {"many": [{"share": 1}]}).many == [_Inner(1.0)]  # an integer is a number


def test_fleet_example_loads_through_the_command_line_flags(tmp_path: Path):
    example = Path(__file__).resolve().parent.parent / "examples" / "fleet.toml"
    config = load_fleet_config(example, {"log_format": "json", "port": 9000}, flags=True)
    assert (config.log_format, config.port, config.ports) == ("json", 9000, 64)


_SCALARS = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12), st.booleans(), st.dates(), st.datetimes()
)
# What TOML can hold (arrays, tables, dates included) anywhere a key is
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def _refused_in_one_line_or_loaded(load: Callable[..., Any], table: dict[str, Any]) -> None:
    try:
        load(None, table)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(keys_of(GatewayConfig) | keys_of(SimSettings) | keys_of(FleetConfig) | {"x"})),
    _VALUES,
    st.sampled_from(sorted(keys_of(Timing) | keys_of(SimSpec) | keys_of(MemberTable))),
)
def test_any_value_of_any_key_is_loaded_or_refused_in_one_line(key: str, value: Any, inner: str):
    """Never a traceback: every key, in a table and in an array of tables too, with whatever TOML holds."""
    for load in LOADERS.values():
        _refused_in_one_line_or_loaded(load, {key: value})
    _refused_in_one_line_or_loaded(
        load_gateway_config, {"timing": {inner: value}, "sim": [{"port": "1.01", inner: value}]}
    )
    at = {"modems": "at", "ports": 1, "modem": [{"port": 1, "device": "/dev/x", inner: value}]}
    _refused_in_one_line_or_loaded(load_gateway_config, at)
    _refused_in_one_line_or_loaded(load_gateway_config, {"ussd": {"menus": {"*1#": value}}})
    _refused_in_one_line_or_loaded(load_fleet_config, {"member": [{"url": "http://a", "ports": "1-2", inner: value}]})
