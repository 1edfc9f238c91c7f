"""The simulated network's USSD service: balance, own number, and menus defined as small trees.

A menu is a node: ``text`` (a prompt, or a final answer), ``options`` (reply
-> node; a node without options ends the session) and ``delay`` (seconds the
network takes to answer; the service's own delay when left out).  Menu codes may
hold parameters (``*125*{amount}*{to}#``), and texts placeholders: the
parameters, and ``{balance}``, ``{price}``, ``{number}``, ``{operator}`` of the
SIM that asks.  Unknown codes get the answer real networks give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from msgspec import Meta

from ..config import Refused, key_name
from ..modems.base import UssdReply
from ..protocol.ports import PortAddress
from ..protocol.ussd import PassthroughError, check_ussd

if TYPE_CHECKING:
    from .world import World

UNKNOWN = "UNKNOWN APPLICATION"
INVALID_CHOICE = "Invalid choice."
MAX_DEPTH = 10
MAX_TEXT = 1000
MAX_DELAY = 3600.0
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,30})\}")


class UssdSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The network's USSD service (sim/ussd.py): codes, answers, and menus as small trees (``[ussd]``)."""

    delay: Annotated[float, Meta(ge=0, le=MAX_DELAY)] = 1.0  # the network answers this long after a code or reply
    balance: str = "*100#"
    balance_text: str = "Your balance is {balance}. Each SMS costs {price}."
    own_number: str = "*101#"
    own_number_text: str = "Your number is {number}."
    # code -> {text, options = {reply -> node}, delay}; added to (or replacing) the defaults
    menus: dict[str, Any] = msgspec.field(default_factory=dict)


class MenuError(ValueError):
    pass


@dataclass(frozen=True)
class Node:
    text: str
    options: dict[str, Node]
    delay: float | None = None

    @property
    def final(self) -> bool:
        return not self.options

    def table(self) -> dict[str, Any]:
        """As the config and /sim/ussd write it."""
        out: dict[str, Any] = {"text": self.text}
        if self.options:
            out["options"] = {key: node.table() for key, node in self.options.items()}
        if self.delay is not None:
            out["delay"] = self.delay
        return out


def parse_node(table: Any, where: str, depth: int = 0) -> Node:
    if depth > MAX_DEPTH:
        raise MenuError(f"{where}: menus nest at most {MAX_DEPTH} deep")
    if not isinstance(table, dict):
        raise MenuError(f"{where} is a table: text, and options or delay if wanted")
    unknown = sorted(set(table) - {"text", "options", "delay"})
    if unknown:
        said = ", ".join(key_name((str(key),)) for key in unknown)
        raise MenuError(f"{where}: unknown key(s) {said} (text, options, delay)")
    text = table.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise MenuError(f"{where}: text is what the network answers, 1 to {MAX_TEXT} characters")
    delay = table.get("delay")
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY:
            raise MenuError(f"{where}: delay is 0 to {MAX_DELAY:g} seconds")
        delay = float(delay)
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise MenuError(f"{where}: options is a table of reply -> node")
    nodes = {}
    for key, sub in options.items():
        reply = str(key)
        try:
            if not reply or check_ussd(reply) != reply:
                raise PassthroughError("a reply is what a keypad can dial")
        except PassthroughError as exc:
            raise MenuError(f"{where}: option {reply!r}: {exc}") from None
        nodes[reply] = parse_node(sub, f"{where}.options.{reply}", depth + 1)
    return Node(text, nodes, delay)


@dataclass(frozen=True)
class Menu:
    code: str  # as configured, parameters included
    pattern: re.Pattern[str]
    node: Node


def compile_menu(code: str, node: Node) -> Menu:
    names = _PLACEHOLDER.findall(code)
    literal = _PLACEHOLDER.sub("1", code)
    try:
        check_ussd(literal)
    except PassthroughError as exc:
        raise MenuError(f"menu code {code!r}: {exc}") from None
    if literal[:1] not in ("*", "#") or literal != literal.strip():
        raise MenuError(f"menu code {code!r}: a USSD code starts with * or #")
    if len(set(names)) != len(names):
        raise MenuError(f"menu code {code!r} names a parameter twice")
    regex = ""
    for part in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]{0,30}\})", code):
        m = _PLACEHOLDER.fullmatch(part)
        regex += f"(?P<{m.group(1)}>[0-9+]+)" if m else re.escape(part)
    return Menu(code, re.compile(regex), node)


def default_menus(settings: UssdSettings) -> dict[str, Any]:
    """The service's menus before the config's and the run-time ones: code -> node table."""
    return {
        settings.balance: {"text": settings.balance_text},
        settings.own_number: {"text": settings.own_number_text},
        "*125*{amount}*{to}#": {
            "text": "Transfer {amount} to {to}?\n1. Continue\n2. Cancel",
            "options": {
                "1": {
                    "text": "Confirm the transfer of {amount} to {to}:\n1. Confirm\n2. Cancel",
                    "options": {
                        "1": {"text": "Transfer of {amount} to {to} done."},
                        "2": {"text": "Transfer cancelled."},
                    },
                },
                "2": {"text": "Transfer cancelled."},
            },
        },
    }


def check_menus(settings: UssdSettings) -> None:
    """``Refused`` naming the ``[ussd]`` menu that cannot be served, and why."""
    for code, table in {**default_menus(settings), **settings.menus}.items():
        where = key_name(("ussd", "menus", code))
        try:
            compile_menu(code, parse_node(table, where))
        except MenuError as exc:
            raise Refused("", str(exc)) from None  # the message names the menu (and the node in it)


class UssdService:
    """Answers the USSD of each port; holds the menu position of ports whose session is open."""

    def __init__(self, settings: UssdSettings, world: World, fast: bool) -> None:
        self._delay = 0.0 if fast else settings.delay
        self._world = world
        self._menus: dict[str, Menu] = {}
        for code, table in {**default_menus(settings), **settings.menus}.items():
            self._menus[code] = compile_menu(code, parse_node(table, code))
        self._sessions: dict[int, tuple[Node, dict[str, str]]] = {}

    def load(self) -> None:
        """Apply the menus changed at run time (kept in the world)."""
        for code, table in self._world.ussd_menus.items():
            try:
                self._apply(code, table)
            except MenuError:
                self._world.set_ussd_menu(code, None)  # from an older build that accepted it

    def menus(self) -> dict[str, Node]:
        return {code: menu.node for code, menu in self._menus.items()}

    def set_menu(self, code: str, table: dict[str, Any] | None) -> None:
        """Add or replace (``table``) or remove (None) a menu; kept across restarts.  MenuError if bad."""
        if table is None and code not in self._menus:
            raise MenuError(f"no menu has the code {code!r}")
        self._apply(code, table)
        self._world.set_ussd_menu(code, table if table is not None else False)

    def _apply(self, code: str, table: dict[str, Any] | bool | None) -> None:
        if table is None or table is False:
            self._menus.pop(code, None)
        else:
            self._menus[code] = compile_menu(code, parse_node(table, code))

    def cancel(self, port: int) -> None:
        self._sessions.pop(port, None)

    def answer(self, addr: PortAddress, code: str) -> tuple[float, UssdReply]:
        """How long the network takes, and what it answers, to ``code`` from the SIM in ``addr``."""
        held = self._sessions.pop(addr.port, None)
        prefix = ""
        if held is not None:
            node, params = held
            chosen = node.options.get(code)
            if chosen is None:
                prefix = INVALID_CHOICE + "\n"  # and the same menu again
            else:
                node = chosen
        else:
            found = self._find(code)
            if found is None:
                return self._delay, UssdReply(UNKNOWN, False)
            node, params = found
        if not node.final:
            self._sessions[addr.port] = (node, params)
        delay = self._delay if node.delay is None else node.delay
        return delay, UssdReply(prefix + self._render(node.text, addr, params), not node.final)

    def _find(self, code: str) -> tuple[Node, dict[str, str]] | None:
        exact = self._menus.get(code)
        if exact is not None:
            return exact.node, {}
        for menu in self._menus.values():
            m = menu.pattern.fullmatch(code)
            if m is not None:
                return menu.node, m.groupdict()
        return None

    def _render(self, text: str, addr: PortAddress, params: dict[str, str]) -> str:
        card = self._world.card(addr)
        values = {
            "balance": f"{card.balance or 0.0:.2f}",
            "price": f"{self._world.price(addr):.2f}",
            "number": card.number or "unknown",
            "operator": card.operator.partition(" ")[2] or card.operator,
            **params,
        }
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
