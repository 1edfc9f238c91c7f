import pytest

from ejoin.drivers import load_gateway_config
from ejoin.gateway.config import ConfigError


def test_defaults_are_the_documented_ones():
    c = load_gateway_config()
    assert (c.host, c.port, c.ports, c.slots, c.username, c.password, c.data) == (
        "127.0.0.1",
        8080,
        8,
        4,
        "root",
        "root",
        "./ejoin-data",
    )
    assert c.modems == "simulated" and not c.fast and c.driver.effective_timing(c.fast).register_max > 0
    assert (c.push_retry_window, c.push_dead_keep) == (3 * 86_400, 10_000)


def test_toml_then_flags_override(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        'port = 9000\nports = 16\nfast = true\nusername = "admin"\n'
        "[timing]\ncard_detect = 0.5\n"
        '[[sim]]\nport = "1.02"\nempty = true\n[[sim]]\nport = "2A"\nnumber = "+15550100"\n'
    )
    c = load_gateway_config(path, {"port": 9100, "slots": None})
    assert (c.port, c.ports, c.slots, c.username, c.fast) == (9100, 16, 4, "admin", True)
    sim = c.driver  # the simulated network's own keys
    assert sim.timing.card_detect == 0.5 and sim.effective_timing(c.fast).card_detect == 0.0
    assert [s.port for s in sim.sim] == ["1.02", "2A"] and sim.sim[0].empty and sim.sim[1].number == "+15550100"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("prot = 1", "unknown key(s) in"),
        ("ports = 'many'", "ports must be int"),
        ("[timing]\nwarp = 1", "unknown key(s) in [timing]"),
        ("[[sim]]\nempty = true", "missing 1 required"),
        ("ports = 0", "ports must be 1 to 256"),
        ("port_names = 'roman'", "port_names"),
        ("[timing]\nregister_min = 5.0\nregister_max = 1.0", "register_max is below"),
        ("this is not toml", "not valid TOML"),
        ("ports = 2\n[[sim]]\nport = '3.01'", "port 3 does not exist"),
        ("[[sim]]\nport = '2'", "must name a slot"),
        ("modems = 'carrier-pigeon'", "unknown modems 'carrier-pigeon'; known: at, emulated, simulated"),
        ("[[sim]]\nport = '1.01'\nnumber = '١٣٨٠٠'", "'١٣٨٠٠' is not a phone number"),
        ("[[sim]]\nport = '1.01'\nimei = '12345'", "'12345' is not an IMEI"),
        ("[traffic]\nsenders = ['１２３']", "traffic.senders: '１２３' is neither"),
        ("push_retry_window = 0", "push_retry_window must be positive"),
        ("push_dead_keep = 0", "push_dead_keep must be at least 1"),
        ("push_retry_base = nan", "push_retry_base must be a finite number"),
        ("push_timeout = inf", "push_timeout must be a finite number"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path, text, fragment):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(path)
    assert fragment in str(exc.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_gateway_config(tmp_path / "nope.toml")


def test_allowed_origins_from_the_file_and_the_flag(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('allowed_origins = ["https://SMS.example.com:443", "http://10.0.0.5:8081/"]\n')
    assert load_gateway_config(path).allowed_origins == ["https://sms.example.com", "http://10.0.0.5:8081"]
    # --allowed-origins a,b (the flag's value is one comma-separated text)
    flag = load_gateway_config(path, {"allowed_origins": "https://a.example, https://b.example"})
    assert flag.allowed_origins == ["https://a.example", "https://b.example"]
    with pytest.raises(ConfigError, match="allowed_origins: 'sms.example.com' is not an origin"):
        load_gateway_config(None, {"allowed_origins": ["sms.example.com"]})


def test_the_cli_takes_allowed_origins(tmp_path):
    from click.testing import CliRunner

    from ejoin.cli import main

    # a bad value is refused before anything starts, naming the key
    result = CliRunner().invoke(main, ["gateway", "--data", str(tmp_path), "--allowed-origins", "nope"])
    assert result.exit_code != 0 and "allowed_origins" in result.output
    assert not (tmp_path / "ejoin.sqlite3").exists()


def test_password_or_password_file_and_the_flag_wins(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('password = "x"\npassword_file = "pw"\n')
    with pytest.raises(ConfigError, match="give password or password_file, not both"):
        load_gateway_config(path)
    path.write_text('password_file = "pw"\n')
    assert load_gateway_config(path).password_file == "pw"
    # --password on the command line wins over the file's way of getting one
    c = load_gateway_config(path, {"password": "given"})
    assert (c.password, c.password_file) == ("given", "")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"smpp_port": 70000}, r"smpp_port must be 0 \(off\) to 65535, not 70000"),
        ({"smpp_window": 0}, "smpp_window must be 1 to 10000, not 0"),
        ({"smpp_accounts": [{"system_id": "", "password": "x"}]}, r"#1: system_id is 1 to 15 characters"),
        ({"smpp_accounts": [{"system_id": "k", "password": "123456789"}]}, r"#1: password is 1 to 8 characters"),
        ({"smpp_accounts": [{"system_id": "k", "password": "p", "throughput": -1}]}, "#1: throughput is submit_sm"),
        ({"smpp_accounts": [{"system_id": "k", "password": "p"}] * 2}, "#2: system_id 'k' is listed twice"),
        ({"smpp_accounts": [{"system_id": 7, "password": "p"}]}, "system_id must be str, not int"),
        ({"smpp_accounts": {"system_id": "k"}}, r"smpp_accounts must be an array of tables"),
    ],
)
def test_smpp_settings_are_checked(settings, message):
    with pytest.raises(ConfigError, match=message):
        load_gateway_config(None, settings)


def test_smpp_accounts_come_from_the_toml_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        'smpp_port = 2775\n[[smpp_accounts]]\nsystem_id = "kannel"\npassword = "secret"\nthroughput = 200\n'
    )
    c = load_gateway_config(path)
    assert c.smpp_port == 2775 and [(a.system_id, a.throughput) for a in c.smpp_accounts] == [("kannel", 200.0)]
