"""The device password (given, from the environment, or generated once) and the open-door warning."""

from __future__ import annotations

import stat
import types

import pytest

from ejoin.credentials import PasswordError, open_door, reachable_by_others, settle_password
from ejoin.serving import settle_config_password


def test_without_a_password_file_the_password_is_the_given_one(tmp_path):
    assert settle_password("s3cret", "", str(tmp_path), {"EJOIN_PASSWORD": "other"}).value == "s3cret"
    assert list(tmp_path.iterdir()) == []


def test_a_password_file_is_generated_once_and_printed_once(tmp_path, capsys):
    config = types.SimpleNamespace(username="root", password="root", password_file="password", data=str(tmp_path))
    settle_config_password(config)
    first = config.password
    err = capsys.readouterr().err
    assert f"generated the device password for user root: {first}" in err
    assert str(tmp_path / "password") in err and "not shown again" in err
    assert len(first) >= 20 and first != "root"
    assert (tmp_path / "password").read_text() == first + "\n"
    assert stat.S_IMODE((tmp_path / "password").stat().st_mode) == 0o600
    # the next start reads it and prints nothing: the same password, never shown again
    again = types.SimpleNamespace(username="root", password="root", password_file="password", data=str(tmp_path))
    settle_config_password(again)
    assert again.password == first and capsys.readouterr().err == ""


def test_the_environment_wins_and_an_empty_file_is_refused(tmp_path):
    (tmp_path / "pw").write_text("from-file\n")
    assert settle_password("root", "pw", str(tmp_path), {"EJOIN_PASSWORD": "from-env"}).value == "from-env"
    assert settle_password("root", "pw", str(tmp_path), {"EJOIN_PASSWORD": ""}).value == "from-file"
    assert settle_password("root", str(tmp_path / "pw"), "/elsewhere", {}).value == "from-file"  # absolute
    (tmp_path / "pw").write_text("\n")
    with pytest.raises(PasswordError, match="is empty"):
        settle_password("root", "pw", str(tmp_path), {})


@pytest.mark.parametrize(
    "host, user, password, open_",
    [
        ("0.0.0.0", "root", "root", "the default credentials root/root"),
        ("", "root", "root", "every interface"),
        ("::", "admin", "", "an empty password"),
        ("192.168.1.5", "api", "api", "a password equal to the username"),
        ("0.0.0.0", "root", "Xk2-long-secret", None),
        ("127.0.0.1", "root", "root", None),
        ("::1", "root", "root", None),
        ("localhost", "root", "root", None),
    ],
)
def test_an_open_door_is_a_reachable_address_with_credentials_anyone_would_try(host, user, password, open_):
    said = open_door(host, user, password)
    if open_ is None:
        assert said is None
    else:
        assert said is not None and open_ in said and "anyone who reaches this address" in said


def test_reachable_addresses():
    assert reachable_by_others("gw.example.net") and reachable_by_others("10.0.0.2")
    assert not reachable_by_others("127.0.0.2") and not reachable_by_others("[::1]")
