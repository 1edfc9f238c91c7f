"""User errors of the CLI: one line, the right exit code, never a traceback; credentials and URLs."""

from __future__ import annotations

import http.server
import json
import socket
import threading

import click
import pytest
from click.testing import CliRunner

from ejoin.cli import main

from ..threaded import ServerThread


def _one_line_usage_error(r) -> None:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr


def test_receive_on_a_busy_port(run, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = run("receive", "--port", str(busy.getsockname()[1]), "--db", str(tmp_path / "p.sqlite3"))
    _one_line_usage_error(r)
    assert "cannot listen on 127.0.0.1:" in r.stderr


def test_receive_with_a_store_it_cannot_open(run, tmp_path):
    r = run("receive", "--port", "0", "--db", str(tmp_path / "no-such-dir" / "p.sqlite3"))
    _one_line_usage_error(r)
    assert "cannot use --db" in r.stderr


def test_inbox_follow_with_a_negative_interval(run):
    r = run("inbox", "--follow", "--interval", "-1")
    _one_line_usage_error(r)
    assert "--interval" in r.stderr


def test_send_with_an_attachment_of_an_unknown_type(run, tmp_path):
    script = tmp_path / "x.sh"
    script.write_text("#!/bin/sh\n")
    r = run("send", "--to", "1", "--attach", str(script))
    _one_line_usage_error(r)
    assert "x.sh: MMS attachments are jpg, gif, txt or mp3" in r.stderr
    _one_line_usage_error(run("send", "--to", "1", "--attach", str(tmp_path / "missing.jpg")))


@pytest.mark.parametrize(
    "args",
    [
        ["send", "--text", "x"],
        ["send", "--to", "1"],
        ["status", "--bogus"],
        ["stats", "sms", "--type", "9"],
        ["cmd", "set", "novalue"],
        ["status", "--profile", "nope"],
        ["status", "--url", "ftp://192.0.2.1"],
        ["status", "--url", "http://[::1"],
        ["status", "--url", "192.0.2.1:http"],
        ["send", "--to", "1", "--text", "x", "--tid", str(2**63)],
        ["send", "--to", "1", "--text", "x", "--report-host", "bad host"],
        ["tasks"],
    ],
)
def test_usage_errors_are_one_line(run, args):
    _one_line_usage_error(run(*args))


def test_cmd_checks_ops_and_ports_before_asking_the_device(cli_env):
    cli_env.setenv("EJOIN_URL", "http://127.0.0.1:1")  # nothing listens: only a local check can answer

    def run(*args):
        return CliRunner().invoke(main, list(args))

    for args, said in [
        (["cmd", "frob", "1"], "unknown op 'frob'"),
        (["cmd", "lock", "x"], "'x' is not a port"),
        (["cmd", "lock"], "lock takes PORTS"),
        (["cmd", "save", "1"], "save takes no ports"),
        (["cmd", "switch", "3-1"], "a range goes from low to high"),
    ]:
        r = run(*args)
        _one_line_usage_error(r)
        assert said in r.stderr
    assert run("cmd", "lock", "1.02").exit_code == 4  # well-formed: it goes to the (absent) device


def test_an_empty_password_is_sent(tmp_path, cli_env):
    server = ServerThread(str(tmp_path / "d"), password="").start()
    try:
        cli_env.setenv("EJOIN_URL", server.url)
        runner = CliRunner()
        assert runner.invoke(main, ["status", "--password", ""]).exit_code == 0
        assert runner.invoke(main, ["status"]).exit_code == 1  # the default, root, is wrong here
        cli_env.setenv("EJOIN_PASSWORD", "")
        assert runner.invoke(main, ["status"]).exit_code == 0
    finally:
        server.stop()


def test_a_url_without_scheme_works(run, server):
    r = run("status", "--url", server.url.removeprefix("http://"), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["type"] == "dev-status"


def test_a_server_that_is_not_an_ejoin_device_is_named(run, tmp_path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(tmp_path)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        r = run("status", "--url", f"http://127.0.0.1:{httpd.server_address[1]}")
        assert r.exit_code == 4 and "not an EJOIN device: HTTP 404" in r.stderr
        r = run("status", "--url", f"http://127.0.0.1:{httpd.server_address[1]}", "--json")
        assert json.loads(r.stdout)["error"] == "not-ejoin"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_wrong_credentials_are_worded_as_such(run):
    r = run("status", "--password", "bad")
    assert r.exit_code == 1
    assert "wrong username or password" in r.stderr and "1 Invalid User" in r.stderr
    assert "refused" not in r.stderr
    r = run("send", "--to", "1", "--text", "x", "--password", "bad")
    assert r.exit_code == 1 and "wrong username or password" in r.stderr


def test_errors_under_json_are_json(run):
    r = run("status", "--password", "bad", "--json")
    assert json.loads(r.stdout) == {
        "error": "credentials",
        "message": json.loads(r.stdout)["message"],
        "code": 1,
        "reason": "Invalid User",
    }
    r = run("status", "--url", "http://127.0.0.1:1", "--json")
    assert r.exit_code == 4 and json.loads(r.stdout)["error"] == "unreachable"
    r = run("cmd", "lock", "99", "--json")
    answer = json.loads(r.stdout)
    assert r.exit_code == 1 and answer["code"] == 2 and "port 99 does not exist" in answer["reason"]
    r = run("send", "--to", "1", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["error"] == "usage"


def test_remove_of_an_unknown_task_says_no_such_task(run):
    r = run("remove", "999")
    assert r.exit_code == 1 and r.stdout.strip() == "999: no such task (11 TID Expected)"
    r = run("remove", "999", "--json")
    assert json.loads(r.stdout)["results"] == [{"tid": 999, "status": "11 TID Expected"}]  # the wire is the spec's


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _all_commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_command_has_h_help_examples_and_every_option_a_help_text():
    for path, command in _all_commands(main):
        r = CliRunner().invoke(main, [*path, "-h"])
        assert r.exit_code == 0 and "Usage:" in r.output, path
        assert "Example" in r.output, f"{' '.join(path)} shows no example"
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"{' '.join(path)} {param.opts[0]} has no help"
    assert "Example" in CliRunner().invoke(main, ["-h"]).output
    assert "2.02" in CliRunner().invoke(main, ["cmd", "-h"]).output  # the port notation is explained
    assert "2.02" in CliRunner().invoke(main, ["send", "-h"]).output
