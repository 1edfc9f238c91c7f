"""deploy/: the files parse, say what the README says, and name only metrics the gateway exposes."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from ejoin.drivers import load_gateway_config

from .conftest import AUTH

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def readme_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        commands.extend(line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip())
    return commands


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def exec_form(args: str) -> str:
    return " ".join(json.loads(args)) if args.startswith("[") else args


def test_the_dockerfile_installs_and_runs_as_the_readme_says():
    readme = readme_commands()
    instructions = dockerfile_instructions()
    installs = [args for word, args in instructions if word == "RUN" and "pip install" in args]
    assert installs and all(args in readme for args in installs), (installs, readme)
    [cmd] = [exec_form(args) for word, args in instructions if word == "CMD"]
    assert cmd in readme
    words = {word for word, _ in instructions}
    assert {"USER", "VOLUME", "HEALTHCHECK", "EXPOSE"} <= words
    user = [args for word, args in instructions if word == "USER"]
    assert user and user[-1] not in ("root", "0")


def test_the_systemd_unit_runs_what_the_readme_runs():
    unit = (DEPLOY / "ejoin.service").read_text()
    service = dict(re.findall(r"^(\w+)=(.*)$", unit.split("[Service]")[1].split("[Install]")[0], re.M))
    assert service["ExecStart"] in readme_commands()
    assert service["Type"] == "notify" and service["Restart"] == "on-failure"
    assert "dialout" in service["SupplementaryGroups"] and service["StateDirectory"] == "ejoin"
    # the example config keeps its data where systemd's StateDirectory and the container's volume are
    assert load_gateway_config(DEPLOY / "ejoin.toml").data == "/var/lib/ejoin"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    # verify wants the program to exist: the unit as it is, run by this Python
    unit = (DEPLOY / "ejoin.service").read_text().replace("/opt/ejoin/bin/ejoin", f"{sys.executable} -m ejoin")
    target = tmp_path / "ejoin.service"
    target.write_text(unit)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(target)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on unknown keys and bad values: it only prints them, naming the file
    problems = [line for line in done.stderr.splitlines() if str(target) in line]
    assert done.returncode == 0 and not problems, done.stderr


RULE_KEY = re.compile(r'^(?P<key>[A-Z_]+)(\{(?P<attr>[^}]+)\})?(?P<op>==|!=|\+=|-=|:=|=)"(?P<value>[^"]*)"$')
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "KERNELS", "ATTRS", "ATTR", "ENV", "DRIVERS"}
ASSIGN_KEYS = {"ENV", "GROUP", "MODE", "SYMLINK", "OWNER", "TAG", "RUN"}


def test_the_udev_rule_parses_and_hides_the_modems_from_modemmanager():
    lines = [
        line.strip()
        for line in (DEPLOY / "99-ejoin-modems.rules").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines
    for line in lines:
        pairs = [p.strip() for p in line.split(", ")]
        parsed = [RULE_KEY.match(p) for p in pairs]
        assert all(parsed), line
        for m in parsed:
            if m["op"] in ("==", "!="):
                assert m["key"] in MATCH_KEYS, line
            else:
                assert m["key"] in ASSIGN_KEYS, line
        assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in pairs, line


def test_the_deploy_config_is_a_production_start():
    config = load_gateway_config(DEPLOY / "ejoin.toml")  # unknown keys would be refused here
    assert (config.host, config.data, config.log_format) == ("0.0.0.0", "/var/lib/ejoin", "json")


def exposed_metric_names(text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


async def test_grafana_and_alerts_use_only_metrics_the_gateway_exposes(device, receiver):
    await device.get("/goip_get_status.html")  # so the HTTP histogram has a series
    await device.cmd(op="set", status_url=receiver.url)  # ... and the push counters one
    await receiver.wait_count(1)
    resp = await device.client.get("/metrics", params=AUTH)
    exposed = exposed_metric_names(await resp.text())
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    # the fleet's group is checked against a fleet's metrics (tests/fleet/api/test_operable.py)
    exprs += [r["expr"] for g in rules["groups"] if g["name"] == "ejoin" for r in g["rules"]]
    assert len(exprs) > 15
    for expr in exprs:
        for name in re.findall(r"\b(ejoin_[a-z_]+)", expr):
            assert name in exposed, (name, expr)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_readme_service_commands_are_shell_words():
    for command in readme_commands():
        shlex.split(command)


def test_every_dashboard_file_is_package_data():
    """A wheel (pip install ., the Dockerfile) must carry the templates and static files."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "ejoin.web.dashboard"
    ]
    base = ROOT / "src" / "ejoin" / "web" / "dashboard"
    files = [p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file() and p.suffix != ".py"]
    files = [f for f in files if "__pycache__" not in f]
    assert any(f.startswith("templates/") for f in files) and any(f.startswith("static/") for f in files)
    for name in files:
        assert any(fnmatch.fnmatch(name, g) for g in globs), name
