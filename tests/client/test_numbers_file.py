"""``ejoin send --to-file``: entries that are not phone numbers are reported with their line, not sent."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ejoin.cli import main
from ejoin.client import read_numbers
from ejoin.client.tasks import NumbersFileError

from ..threaded import ServerThread


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerThread(str(tmp_path_factory.mktemp("numbers")))
    s.start()
    yield s
    s.stop()


def test_bad_lines_are_reported_and_the_rest_sent(server, tmp_path, monkeypatch):
    monkeypatch.setenv("EJOIN_URL", server.url)
    path = tmp_path / "numbers.txt"
    path.write_text("# customers\n13800000001\n١٣٨٠٠٠٠٠٠٠٢\n13800000003, hello\n\n１２３\n+8613800000004\n")
    r = CliRunner().invoke(main, ["send", "--to-file", str(path), "--text", "hi", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert f"not sent ({path}, line 3: '١٣٨٠٠٠٠٠٠٠٢' is not a phone number" in r.output
    assert "line 4: 'hello' is not a phone number" in r.output
    assert "line 6: '１２３' is not a phone number" in r.output
    report = json.loads(r.output.strip().splitlines()[-1])["report"]
    assert (report["sent"], report["failed"], report["unsent"]) == (3, 0, 0)


def test_a_file_of_nothing_but_bad_lines_sends_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setenv("EJOIN_URL", server.url)
    path = tmp_path / "numbers.txt"
    path.write_text("abc\n")
    r = CliRunner().invoke(main, ["send", "--to-file", str(path), "--text", "hi"])
    assert r.exit_code == 2 and "line 1: 'abc'" in r.output and "no number to send" in r.output


def test_read_numbers_names_every_bad_entry(tmp_path):
    path = tmp_path / "n.txt"
    path.write_text("1\nx\n2,y\n")
    with pytest.raises(NumbersFileError) as info:
        read_numbers(path)
    assert info.value.problems[0].startswith("line 2: 'x'") and info.value.problems[1].startswith("line 3: 'y'")
    found: list[str] = []
    assert read_numbers(path, problems=found) == ["1", "2"] and len(found) == 2
