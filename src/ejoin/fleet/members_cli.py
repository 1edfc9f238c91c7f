"""``ejoin fleet member list|add|remove``: a running fleet's members, through its admin endpoints.

The fleet is reached as any device (--url, --username, --password, --profile, --secure of the
client commands): these are the fleet's own credentials; a member's are --member-username and
--member-password.
"""

from __future__ import annotations

import click
from rich.text import Text

from ..client.connection import _client, device_options, with_scheme
from ..client.terminal import dump, out, table


@click.group()
def member():
    """A running fleet's members: list them, add one, remove one.

    \b
    Examples:
      ejoin fleet member list --url http://127.0.0.1:8090
      ejoin fleet member add rack3 http://192.168.1.12 --ports 65-96 --url http://127.0.0.1:8090
      ejoin fleet member remove rack3 --force --url http://127.0.0.1:8090
    """


@member.command(name="list")
@device_options
def member_list(s, as_json):
    """Every member: its fleet ports, whether it answers (and why not), its registered ports, and the
    SMS it sent after a failover or its forced removal had given them to another member (sent twice;
    a member removed that did is listed as removed while the fleet keeps those tasks).

    \b
    Examples:
      ejoin fleet member list --url http://127.0.0.1:8090
      ejoin fleet member list --url http://127.0.0.1:8090 --json
    """
    with _client(s) as fleet:
        members = fleet.fleet_members()
    if as_json:
        dump(members)
        return
    if not members:
        out().print("the fleet has no members")
        return
    rows = [
        [
            Text(m["name"]),
            m["ports"],
            Text(m["url"]),
            _state(m),
            m["registered"],
            m.get("crypt") or ("yes" if m["secure"] else "no"),
            m.get("sent_twice", 0),
            Text(m.get("problem") or ""),
        ]
        for m in members
    ]
    table(
        f"{len(members)} members",
        ["name", "fleet ports", "url", "state", "registered", "secure", "sent twice", "why down"],
        rows,
    )


def _state(m: dict) -> Text:
    if m.get("removed"):
        return Text("removed", style="yellow")
    return Text("up", style="green") if m["up"] else Text("down", style="red")


@member.command(name="add")
@click.argument("name")
@click.argument("member_url", metavar="MEMBER_URL")
@click.option("--ports", "ports", required=True, help='The fleet ports it occupies, e.g. "65-96".')
@click.option("--member-username", default="root", show_default=True, help="The member device's account.")
@click.option(
    "--member-password",
    envvar="EJOIN_MEMBER_PASSWORD",
    default="root",
    show_default=True,
    help="The member device's password. Env EJOIN_MEMBER_PASSWORD.",
)
@click.option("--member-secure", is_flag=True, help="Reach the member through a secure session (spec 3).")
@click.option(
    "--member-crypt",
    metavar="aes-ecb",
    default="",
    help="Encrypt the POST bodies sent to the member (aes-ecb, spec 3); implies --member-secure.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Add it without asking it first (it counts as down until it answers its status).",
)
@device_options
def member_add(
    s, as_json, name, member_url, ports, member_username, member_password, member_secure, member_crypt, offline
):
    """Add member NAME at MEMBER_URL on the fleet ports --ports; it survives a restart of the fleet.

    The fleet first asks the member for its status with the account given, and refuses to add it,
    saying why, when it does not answer so (unless --offline).  MEMBER_URL without a scheme is http://.

    \b
    Examples:
      ejoin fleet member add rack3 http://192.168.1.12 --ports 65-96 --url http://127.0.0.1:8090
      ejoin fleet member add rack4 192.168.1.13:8080 --ports 97-128 --offline --url http://127.0.0.1:8090
    """
    settings = {
        "name": name,
        "url": with_scheme(member_url),
        "ports": ports,
        "username": member_username,
        "password": member_password,
        "secure": member_secure or bool(member_crypt),
    }
    if member_crypt:
        settings["crypt"] = member_crypt  # checked by the fleet, which says why it refuses a value
    with _client(s) as fleet:
        added = fleet.add_fleet_member(settings, offline)
    if as_json:
        dump(added)
        return
    state = "up" if added.get("up") else f"down: {added.get('problem') or 'not answering yet'}"
    out().print(f"member {added['name']} added on fleet ports {added['ports']} ({state})")


@member.command(name="remove")
@click.argument("name")
@click.option(
    "--force",
    is_flag=True,
    help="Also when it holds unsent SMS: they are withdrawn from it and sent through the other members.",
)
@device_options
def member_remove(s, as_json, name, force):
    """Remove member NAME.  Refused while it holds unsent SMS of open tasks, unless --force.

    \b
    Examples:
      ejoin fleet member remove rack3 --url http://127.0.0.1:8090
      ejoin fleet member remove rack3 --force --url http://127.0.0.1:8090
    """
    with _client(s) as fleet:
        moved = fleet.remove_fleet_member(name, force)
    if as_json:
        dump({"name": name, "withdrawn": moved})
        return
    out().print(f"member {name} removed" + (f"; {moved} unsent SMS go through the other members" if moved else ""))
