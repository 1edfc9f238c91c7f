import pytest

from ejoin.config import ConfigError
from ejoin.drivers import load_gateway_config


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
    "text, said",
    [
        ("prot = 1", "prot: unknown key (did you mean port?)"),
        ("ports = 'many'", 'ports: expected an integer from 1 to 256, not "many"'),
        ("ports = 0", "ports: expected an integer from 1 to 256, not 0"),
        ("fast = 'yes'", 'fast: expected true or false, not "yes"'),
        ("port_names = 'roman'", 'port_names: expected "dotted" or "letter", not "roman"'),
        ("sqlite_sync = 'fast'", 'sqlite_sync: expected one of off, normal, full, extra, not "fast"'),
        ("timezone = 'Mars/Olympus'", 'timezone: unknown time zone "Mars/Olympus" (an IANA name)'),
        ("mac = 1", "mac: expected a string, not 1"),
        ("[timing]\nwarp = 1", "[timing] warp: unknown key"),
        ("[timing]\ncard_detec = 1", "[timing] card_detec: unknown key (did you mean card_detect?)"),
        ("[timing]\ncard_detect = 'soon'", '[timing] card_detect: expected a number of at least 0, not "soon"'),
        (
            "[timing]\nregister_min = 5.0\nregister_max = 1.0",
            "[timing] register_max: must be at least register_min (5), not 1",
        ),
        ("timing = 3", "timing: expected a table, not 3"),
        ("[[sim]]\nempty = true", "[[sim]] #1 port: missing (this key is required)"),
        ("[[sim]]\nport = '1.01'\n[[sim]]\nport = 2", '[[sim]] #2 port: expected a slot such as "1.02", not 2'),
        ("[[sim]]\nport = '1.01'\nnumbr = '1'", "[[sim]] #1 numbr: unknown key (did you mean number?)"),
        ("ports = 2\n[[sim]]\nport = '3.01'", "[[sim]] #1 port: '3.01': port 3 does not exist (the device has 2"),
        ("[[sim]]\nport = '2'", "[[sim]] #1 port: '2' must name a slot, like 1.02"),
        ("[[sim]]\nport = '1.01'\nnumber = '١٣٨٠٠'", "[[sim]] #1 number: '١٣٨٠٠' is not a phone number"),
        ("[[sim]]\nport = '1.01'\nimei = '12345'", "[[sim]] #1 imei: '12345' is not an IMEI"),
        ("sim = 3", "sim: expected an array of tables, not 3"),
        ("[traffic]\nsenders = ['10086', 2]", "[traffic] senders #2: expected a string, not 2"),
        ("[traffic]\nsenders = ['１２３']", "[traffic] senders #1: '１２３' is neither"),
        ("[traffic]\nrate = 1.0\ntexts = []", "[traffic] texts: must not be empty while rate is above 0"),
        ("[ussd]\ndelay = 7200", "[ussd] delay: expected a number from 0 to 3600, not 7200"),
        ("[ussd.menus.'*5#']\ntext = ''", '[ussd.menus] "*5#": text is what the network answers'),
        ("modems = 'carrier-pigeon'", "modems: no driver named 'carrier-pigeon'; known: at, emulated, simulated"),
        ("modems = 'simulate'", "modems: no driver named 'simulate' (did you mean simulated?); known: at, emulated,"),
        ("modems = 1", "modems: expected a driver's name, not 1"),
        ("push_retry_window = 0", "push_retry_window: expected a number above 0, not 0"),
        ("push_dead_keep = 0", "push_dead_keep: expected an integer of at least 1, not 0"),
        ("push_retry_base = nan", "push_retry_base: expected a finite number, not nan"),
        ("push_timeout = inf", "push_timeout: expected a finite number, not inf"),
        (
            "push_retry_base = 10.0\npush_retry_cap = 5.0",
            "push_retry_cap: must be at least push_retry_base (10), not 5",
        ),
        ("tls_cert = 'a.pem'", "tls_cert: tls_cert and tls_key go together: give both (PEM files) or neither"),
        ("this is not toml", "not valid TOML: Expected '=' after a key in a key/value pair (at line 1, column 6)"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path, text, said):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(path)
    assert str(exc.value).startswith(f"{path}: {said}")
    assert "\n" not in str(exc.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(tmp_path / "nope.toml")
    assert str(exc.value) == f"{tmp_path / 'nope.toml'}: cannot read it: No such file or directory"


def test_a_flag_is_named_as_the_flag_and_the_file_as_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("ports = 2\n")
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(path, {"port": 70_000}, flags=True)
    assert str(exc.value) == "--port: expected an integer from 0 to 65535, not 70000"
    path.write_text("ports = 300\n")
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(path, {"port": 8081}, flags=True)
    assert str(exc.value) == f"{path}: ports: expected an integer from 1 to 256, not 300"
    # a program's own settings (ejoin.testing, tests) are named by their keys
    with pytest.raises(ConfigError) as exc:
        load_gateway_config(None, {"ports": 0})
    assert str(exc.value) == "ports: expected an integer from 1 to 256, not 0"


def test_allowed_origins_from_the_file_and_the_flag(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('allowed_origins = ["https://SMS.example.com:443", "http://10.0.0.5:8081/"]\n')
    assert load_gateway_config(path).allowed_origins == ["https://sms.example.com", "http://10.0.0.5:8081"]
    # --allowed-origins a,b (the flag's value is one comma-separated text)
    flag = load_gateway_config(path, {"allowed_origins": ["https://a.example", "https://b.example"]}, flags=True)
    assert flag.allowed_origins == ["https://a.example", "https://b.example"]
    with pytest.raises(ConfigError, match='^--allowed-origins: "sms.example.com" is not an origin'):
        load_gateway_config(None, {"allowed_origins": ["sms.example.com"]}, flags=True)
    path.write_text('allowed_origins = "https://a.example"\n')  # one origin is still a list of one
    with pytest.raises(ConfigError, match="allowed_origins: expected an array of origins such as"):
        load_gateway_config(path)


def test_the_cli_takes_allowed_origins(tmp_path):
    from click.testing import CliRunner

    from ejoin.cli import main

    # a bad value is refused before anything starts, naming the flag
    result = CliRunner().invoke(
        main, ["gateway", "--data", str(tmp_path), "--allowed-origins", "https://a.example,nope"]
    )
    assert result.exit_code == 2
    assert (
        result.output
        == 'Error: --allowed-origins: "nope" is not an origin (scheme://host[:port], http or https, no path)\n'
    )

    assert not (tmp_path / "ejoin.sqlite3").exists()


def test_password_or_password_file_and_the_flag_wins(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('password = "x"\npassword_file = "pw"\n')
    with pytest.raises(ConfigError, match="c.toml: password_file: give password or password_file, not both"):
        load_gateway_config(path)
    path.write_text('password_file = "pw"\n')
    assert load_gateway_config(path).password_file == "pw"
    # --password on the command line wins over the file's way of getting one
    c = load_gateway_config(path, {"password": "given"})
    assert (c.password, c.password_file) == ("given", "")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"smpp_port": 70000}, "smpp_port: expected an integer from 0 to 65535, not 70000"),
        ({"smpp_window": 0}, "smpp_window: expected an integer from 1 to 10000, not 0"),
        ({"smpp_accounts": [{"system_id": "", "password": "x"}]}, "#1 system_id: expected a string of 1 to 15 char"),
        ({"smpp_accounts": [{"system_id": "k", "password": "123456789"}]}, "#1 password: expected a string of 1 to 8"),
        ({"smpp_accounts": [{"system_id": "k", "password": "p", "throughput": -1}]}, "#1 throughput: expected a num"),
        ({"smpp_accounts": [{"system_id": "k", "password": "p"}] * 2}, '#2 system_id: "k" is listed twice'),
        ({"smpp_accounts": [{"system_id": 7, "password": "p"}]}, "#1 system_id: expected a string of 1 to 15 char"),
        ({"smpp_accounts": [{"system_id": "k"}]}, "password"),
        ({"smpp_accounts": {"system_id": "k"}}, "smpp_accounts: expected an array of tables, not a table"),
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
