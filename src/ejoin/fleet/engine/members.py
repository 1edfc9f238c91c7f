"""The fleet's side of each member device: HTTP calls, the last status seen, up or down."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import msgspec

from ...client.calls import Call
from ...client.flow import Auth
from ...clock import Clock
from ..config import MemberConfig

log = logging.getLogger(__name__)

SESSION_REFUSED = (401, 409)  # unknown or expired session; a seq out of step (gateway/security.py)
MAX_IDLE_SESSIONS = 8


class MemberDown(Exception):
    """The member did not answer (connection refused or reset, timeout)."""


class MemberError(MemberDown):
    """The member answered, but not with JSON (its web server's HTTP error, a proxy's page): an error
    of this request, not a sign that it is down.  A ``MemberDown`` for callers that only know that the
    request got no usable answer (a post then waits to be reconciled, as after no answer)."""

    def __init__(self, member: str, status: int, body: bytes, secret: str = "") -> None:
        words = " ".join(body[:200].decode("utf-8", "replace").split())
        if secret:  # a page that echoes the request line would carry the member's password
            words = words.replace(secret, "***")
        super().__init__(f"member {member} answered HTTP {status} without the device's JSON: {words[:160]!r}")
        self.status = status


class MemberLink:
    def __init__(self, config: MemberConfig, clock: Clock, timeout: float) -> None:
        self.config = config
        self.name = config.name
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.status: dict[str, Any] | None = None  # the last dev-status it answered
        self.down_since: float | None = None
        # Where it pushes its status to the fleet ("": not yet known); subscribed again after it was down.
        self.push_url = ""
        self.push_path = ""  # its path on the fleet: the same behind every replica's public_url
        self.sms_url = ""  # where it pushes the SMS it receives
        self.period = 0
        self._subscribed = False
        self._heard_at = 0.0  # when it last pushed its status (or was subscribed)
        self._refused = False  # it refused the push URL: polls only, until it is down and back
        self._idle: list[Auth] = []  # open spec 3 sessions not in use (secure members)
        self._heard_count = 0
        self._registered: tuple[Any, int, tuple[tuple[str, str], ...]] = (None, 0, ())
        # Failed over (its units withdrawn): when it answers again it is held back for ``settle``
        # seconds (the fleet's status poll) before it is given units (``takes_units``).
        self.failed_over = False
        self.settle = 0.0
        self._held_until = 0.0

    @property
    def up(self) -> bool:
        return self.down_since is None

    @property
    def takes_units(self) -> bool:
        """Up, and not just back from a failover.  Such a member may have sent from its queue what was
        withdrawn from it; its reports of that (pushed at once, now that it answers) come first and
        settle the units nobody else took (fleet/reports.py), instead of those units going back to it."""
        return self.down_since is None and self._clock.time() >= self._held_until

    def _back(self) -> None:
        log.info("member %s answers again", self.name)
        self.down_since = None
        if self.failed_over:
            self.failed_over = False
            self._held_until = self._clock.time() + self.settle

    async def call(
        self, path: str, *, params: dict[str, str] | None = None, body: Any = None, timeout: float | None = None
    ) -> Any:
        """One request to the member; its JSON answer, or ``MemberDown``.  ``timeout``: for a request
        the member itself may take long to answer (USSD, AT), beyond ``member_timeout``."""
        payload = None if body is None else msgspec.json.encode(body)
        if self.config.secure:
            answer = await self._secure_call(path, params or {}, payload, timeout)
        else:
            query = {**(params or {}), "username": self.config.username, "password": self.config.password}
            answer = await self._http("GET" if payload is None else "POST", path, query, payload, timeout)
        if self.down_since is not None:
            self._back()
        return answer

    async def _pushes_to_the_fleet(self) -> bool:
        """Whether its status pushes still go to the fleet, through any replica, every period."""
        try:
            answer = await self.call("/goip_send_cmd.html", params={"op": "get", "status_url": "", "status_period": ""})
        except MemberDown:
            return False
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not self.push_path:
            return False
        url, period = str(data.get("status_url") or ""), str(data.get("status_period"))
        return url.endswith(self.push_path) and period == str(self.period)

    async def _subscribe_sms(self) -> None:
        # sms_cnt 1: each SMS pushed at once, never held in the member's cache
        answer = await self.call("/goip_send_cmd.html", params={"op": "set", "sms_url": self.sms_url, "sms_cnt": "1"})
        if not isinstance(answer, dict) or answer.get("code") != 0:
            log.warning(
                "member %s refused the SMS push URL (the inbox pull still takes its SMS): %s", self.name, answer
            )

    async def _secure_call(
        self, path: str, params: dict[str, str], payload: bytes | None, timeout: float | None
    ) -> Any:
        """Through a spec 3 session (the client's own code): no password on the wire, and with
        ``crypt`` its POST bodies encrypted.  A session per request in flight, as each session's seq
        must reach the member in order."""
        auth = (
            self._idle.pop()
            if self._idle
            else Auth(self.config.username, self.config.password, True, self.config.crypt or None)
        )
        try:
            for attempt in (1, 2):
                if not auth.session:
                    shake = auth.handshake()
                    opened = await self._http(shake.method, shake.path, shake.params, None, timeout)
                    if not (isinstance(opened, dict) and opened.get("code") == 0 and opened.get("session")):
                        return opened  # refused (wrong credentials): the member's answer
                    auth.opened(opened)
                call: Call[Any] = Call("GET" if payload is None else "POST", path, lambda a: a, params, payload)
                wire = auth.request(call)
                answer = await self._http(wire.method, wire.path, wire.params, wire.body, timeout)
                if attempt == 1 and isinstance(answer, dict) and answer.get("code") in SESSION_REFUSED:
                    auth.session = ""  # expired, or the member restarted: a new session, once
                    continue
                return answer
        finally:
            if auth.session and len(self._idle) < MAX_IDLE_SESSIONS:
                self._idle.append(auth)

    async def _http(
        self, method: str, path: str, query: dict[str, str], payload: bytes | None, timeout: float | None
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        extra: dict[str, Any] = {} if timeout is None else {"timeout": aiohttp.ClientTimeout(total=timeout)}
        if payload is not None:
            extra.update(data=payload, headers={"Content-Type": "application/json"})
        try:
            async with self._session.request(method, self.config.url + path, params=query, **extra) as resp:
                status, body = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._went_down(exc)
            raise MemberDown(f"member {self.name} does not answer: {type(exc).__name__}") from None
        try:
            return msgspec.json.decode(body)
        except msgspec.DecodeError:
            # It answered: down is for a member that does not (one 400 to an over-long request line
            # made a healthy member "down", and all its ports 16, until the next poll).
            raise MemberError(self.name, status, body, self.config.password) from None

    def heard(self, status: dict[str, Any]) -> None:
        """A dev-status it pushed: it is alive, and this is its status now (perhaps its last one with a
        port-status folded in: counted, so what was worked out of the last one is worked out again)."""
        self.status = status
        self._heard_count += 1
        self._heard_at = self._clock.time()
        if self.down_since is not None:
            self._back()

    def subscribe_again(self) -> None:
        """Subscribe it to the fleet's URLs at its next status poll, as after it was down."""
        self._subscribed = False

    def _went_down(self, exc: BaseException) -> None:
        self._subscribed = self._refused = False
        if self.down_since is None:
            # aiohttp's errors may hold the request URL, and so the member's password: their kind only
            why = str(exc) if isinstance(exc, MemberError) or type(exc) is ValueError else type(exc).__name__
            log.warning("member %s is down: %s", self.name, why)
            self.down_since = self._clock.time()

    async def refresh(self) -> dict[str, Any] | None:
        """Its status now (None when it is down); kept as the last status seen.  Not subscribed yet
        (or again, after it was down): the request also gives it the fleet's URL for its pushes."""
        # Pushes that stopped for three periods (its setting changed by someone else, its store
        # lost) make the poll, the fallback, subscribe it again.
        silent = self.period > 0 and self._clock.time() - self._heard_at > 3 * self.period
        subscribe = bool(self.push_url) and not self._refused and (not self._subscribed or silent)
        if subscribe and self._subscribed and await self._pushes_to_the_fleet():
            # silent to this replica only: its pushes land on another one (behind the load balancer),
            # which subscribed it as this one would; taking the setting again would be a fight
            self._heard_at, subscribe = self._clock.time(), False
        params = {"url": self.push_url, "period": str(self.period)} if subscribe else None
        try:
            if subscribe and self.sms_url:
                await self._subscribe_sms()
            answer = await self.call("/goip_get_status.html", params=params)
            if subscribe and not (isinstance(answer, dict) and isinstance(answer.get("status"), list)):
                # it refused the subscription (a box with its own rules for URLs): polls only
                log.warning("member %s refused the status push URL: %s", self.name, answer)
                self._refused = True
                answer = await self.call("/goip_get_status.html")
        except MemberError as exc:  # answered, but not its status: as below
            self._went_down(exc)
            return None
        except MemberDown:
            return None
        if isinstance(answer, dict) and isinstance(answer.get("status"), list):
            self.status = answer
            if subscribe:
                self._subscribed, self._heard_at = True, self._clock.time()
            return answer
        # Its status cannot be read (wrong credentials, say): the fleet cannot know its ports, so they show
        # 16 and get no units until a poll reads it.  Only the status poll decides this; an error answer to
        # any other request is that request's.
        self._went_down(ValueError(f"its status poll was answered {str(answer)[:120]}"))
        return None

    def registered(self) -> tuple[tuple[str, str], ...]:
        """(own port name, SIM) of each registered (st 3) active slot, from the last status; the SIM is
        its ICCID, or the member and port when the device does not tell it.  Worked out once per status
        heard (every task's plan asks): the same tuple until the member's status changes."""
        if not self.up or self.status is None:
            return ()
        status, heard, found = self._registered
        if status is self.status and heard == self._heard_count:
            return found
        found = tuple(
            (str(e.get("port")), str(e.get("iccid") or f"{self.name}:{e.get('port')}"))
            for e in self.status.get("status", [])
            if isinstance(e, dict) and e.get("st") == 3
        )
        self._registered = (self.status, self._heard_count, found)
        return found

    async def close(self) -> None:
        self._idle.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None


async def refresh_all(links: list[MemberLink]) -> None:
    await asyncio.gather(*(link.refresh() for link in links))
