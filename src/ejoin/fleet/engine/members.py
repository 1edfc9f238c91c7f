"""The fleet's side of each member device: its requests, the last status seen, up or down and why.

Requests go through the SDK's own flow (``client/flow.py``: credentials or a spec 3 session, signing,
bodies encrypted with ``crypt``, a refused session opened again once), driven here over aiohttp, as
the SDK drives it over httpx: one client stack toward a device, two drivers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from ...client.calls import Call
from ...client.errors import DeviceUnreachable, EjoinError, NotAnEjoinDevice, unreachable_reason
from ...client.flow import Auth, Flow, NoAnswer, Response, Steps
from ...clock import Clock
from ...protocol.codes import ResultCode
from ...protocol.operations import GET_STATUS, SEND_CMD
from ..config import MemberConfig

log = logging.getLogger(__name__)

MAX_IDLE_SESSIONS = 8
# Seconds, the upper bounds of the answer times counted per member (ejoin_fleet_member_request_seconds)
ANSWER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        self.words = words[:160]


@dataclass(frozen=True)
class Problem:
    """Why a member counts as down, in words (the log, ``member list``, the dashboard), and its kind,
    one of a few (a metrics label): no_answer, credentials, not_ejoin, no_status."""

    kind: str
    words: str


KINDS = ("no_answer", "credentials", "not_ejoin", "no_status")


@dataclass
class Answers:
    """How a member answered this process's requests: counts by outcome, and the answer times of its
    HTTP requests (a secure call may be two: the session's handshake, then the request)."""

    answered: int = 0  # with JSON (a refusal included)
    errors: int = 0  # answered without the device's JSON
    silent: int = 0  # no answer
    buckets: list[int] = field(default_factory=lambda: [0] * (len(ANSWER_BUCKETS) + 1))
    seconds: float = 0.0

    def took(self, seconds: float) -> None:
        self.buckets[bisect_left(ANSWER_BUCKETS, seconds)] += 1
        self.seconds += seconds


@dataclass
class _Passed(Call[Any]):
    """A request to a member whose answer is the caller's to read: its JSON as it is (a refusal is an
    answer), or ``MemberError`` when it is no JSON."""

    member: str = ""
    secret: str = ""

    def read(self, http_status: int, payload: bytes) -> Any:
        try:
            return msgspec.json.decode(payload)
        except msgspec.DecodeError:
            raise MemberError(self.member, http_status, payload, self.secret) from None


def _same(answer: Any) -> Any:
    return answer


def status_problem(answer: Any) -> Problem | None:
    """What is wrong with an answer to a status poll (None: it is a status)."""
    if isinstance(answer, dict) and isinstance(answer.get("status"), list):
        return None
    if isinstance(answer, dict) and answer.get("code") == ResultCode.INVALID_USER:
        said = f"{answer.get('code')} {answer.get('reason') or answer.get('desc') or ''}".strip()
        return Problem("credentials", f"wrong username or password (it answered {said})")
    shown = msgspec.json.encode(answer).decode()
    return Problem("no_status", f"its status poll was answered {shown[:120]}, not a status: is it an EJOIN device?")


class MemberLink:
    def __init__(self, config: MemberConfig, clock: Clock, timeout: float) -> None:
        self.config = config
        self.name = config.name
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.status: dict[str, Any] | None = None  # the last dev-status it answered
        self.down_since: float | None = None
        self.problem: Problem | None = None  # why it is down (None while up)
        self.announce = True  # says in the log when it goes down (not a candidate being checked)
        self.answers = Answers()
        # Where it pushes its status to the fleet ("": not yet known); subscribed again after it was down.
        self.push_url = ""
        self.push_path = ""  # its path on the fleet: the same behind every replica's public_url
        self.sms_url = ""  # where it pushes the SMS it receives
        self.period = 0
        self._subscribed = False
        self._heard_at = 0.0  # when it last pushed its status (or was subscribed)
        self._refused = False  # it refused the push URL: polls only, until it is down and back
        self._plain = Auth(config.username, config.password, False, None)
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
        self.problem = None
        if self.failed_over:
            self.failed_over = False
            self._held_until = self._clock.time() + self.settle

    def _answered(self) -> None:
        """An answer came: a member down for its silence is back.  One down for what its status poll
        answered (wrong credentials, not an EJOIN device) is back only once a poll reads its status: an
        answer to anything else (a refusal, say) proves nothing, and made it flap every poll."""
        if self.problem is not None and self.problem.kind == "no_answer":
            self._back()

    async def call(
        self, path: str, *, params: dict[str, str] | None = None, body: Any = None, timeout: float | None = None
    ) -> Any:
        """One request to the member; its JSON answer, or ``MemberDown``.  ``timeout``: for a request
        the member itself may take long to answer (USSD, AT), beyond ``member_timeout``."""
        payload = None if body is None else msgspec.json.encode(body)
        call = _Passed(
            "GET" if payload is None else "POST",
            path,
            _same,
            dict(params or {}),
            payload,
            idempotent=False,  # a member that does not answer is down: the next poll asks again
            wait=timeout,
            member=self.name,
            secret=self.config.password,
        )
        auth = self._plain
        if self.config.secure:
            # a session per request in flight, as each session's seq must reach the member in order
            auth = self._idle.pop() if self._idle else Auth(*self._account(), True, self.config.crypt or None)
        try:
            answer = await self._drive(Flow(auth, retries=0).run(call))
        except DeviceUnreachable as exc:
            self.answers.silent += 1
            self._went_down(Problem("no_answer", exc.reason))
            raise MemberDown(f"member {self.name} does not answer: {exc.reason}") from None
        except MemberError:
            self.answers.errors += 1
            raise
        except NotAnEjoinDevice as exc:  # its answer to the session handshake was no JSON
            self.answers.errors += 1
            raise MemberError(self.name, exc.http_status, b"(to the session handshake)") from None
        except EjoinError as exc:  # the session handshake refused (wrong credentials): the member's answer
            answer = {"code": exc.code, "reason": exc.reason}
        finally:
            if auth is not self._plain and auth.session and len(self._idle) < MAX_IDLE_SESSIONS:
                self._idle.append(auth)
        self.answers.answered += 1
        self._answered()
        return answer

    def _account(self) -> tuple[str, str]:
        return self.config.username, self.config.password

    async def _drive(self, steps: Steps[Any]) -> Any:
        """The flow's requests sent over aiohttp (as client/client.py sends them over httpx)."""
        try:
            request = next(steps)
            while True:
                try:
                    status, content = await self._send(
                        request.method, request.path, request.params, request.body, request.headers, request.timeout
                    )
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    request = steps.throw(NoAnswer(unreachable_reason(exc)))
                else:
                    request = steps.send(Response(status, content))
        except StopIteration as done:
            return done.value

    async def _send(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        payload: bytes | None,
        headers: dict[str, str] | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        extra: dict[str, Any] = {} if timeout is None else {"timeout": aiohttp.ClientTimeout(total=timeout)}
        if payload is not None:
            extra.update(data=payload, headers=headers or {"Content-Type": "application/json"})
        started = time.perf_counter()  # answer times are the network's and the member's: real time
        async with self._session.request(method, self.config.url + path, params=query, **extra) as resp:
            status, body = resp.status, await resp.read()
        self.answers.took(time.perf_counter() - started)
        return status, body

    async def _pushes_to_the_fleet(self) -> bool:
        """Whether its status pushes still go to the fleet, through any replica, every period."""
        try:
            answer = await self.call(SEND_CMD.path, params={"op": "get", "status_url": "", "status_period": ""})
        except MemberDown:
            return False
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or not self.push_path:
            return False
        url, period = str(data.get("status_url") or ""), str(data.get("status_period"))
        return url.endswith(self.push_path) and period == str(self.period)

    async def _subscribe_sms(self) -> None:
        # sms_cnt 1: each SMS pushed at once, never held in the member's cache
        answer = await self.call(SEND_CMD.path, params={"op": "set", "sms_url": self.sms_url, "sms_cnt": "1"})
        if not isinstance(answer, dict) or answer.get("code") != 0:
            log.warning(
                "member %s refused the SMS push URL (the inbox pull still takes its SMS): %s", self.name, answer
            )

    def heard(self, status: dict[str, Any]) -> None:
        """A dev-status it pushed: it is alive, and this is its status now (perhaps its last one with a
        port-status folded in: counted, so what was worked out of the last one is worked out again)."""
        self.status = status
        self._heard_count += 1
        self._heard_at = self._clock.time()
        self._answered()

    def subscribe_again(self) -> None:
        """Subscribe it to the fleet's URLs at its next status poll, as after it was down."""
        self._subscribed = False

    def _went_down(self, problem: Problem) -> None:
        self._subscribed = self._refused = False
        if self.down_since is None:
            self.down_since = self._clock.time()
            if self.announce:
                log.warning("member %s is down: %s", self.name, problem.words)
        elif problem != self.problem and self.announce:
            log.warning("member %s is still down, now: %s", self.name, problem.words)
        self.problem = problem

    def _not_ejoin(self, exc: MemberError) -> Problem:
        return Problem(
            "not_ejoin",
            f"it answered HTTP {exc.status} without the device's JSON ({exc.words[:80]!r}): "
            f"is {self.config.url} an EJOIN device?",
        )

    async def probe(self) -> Problem | None:
        """What keeps it from serving as a member (None: it answers its status with these credentials);
        asked before it is added."""
        try:
            return status_problem(await self.call(GET_STATUS.path))
        except MemberError as exc:
            return self._not_ejoin(exc)
        except MemberDown:
            return self.problem

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
            answer = await self.call(GET_STATUS.path, params=params)
            problem = status_problem(answer)
            if subscribe and problem is not None and problem.kind != "credentials":
                # it refused the subscription (a box with its own rules for URLs): polls only
                log.warning("member %s refused the status push URL: %s", self.name, answer)
                self._refused = True
                answer = await self.call(GET_STATUS.path)
                problem = status_problem(answer)
        except MemberError as exc:  # answered, but not its status: as below
            self._went_down(self._not_ejoin(exc))
            return None
        except MemberDown:
            return None
        if problem is not None:
            # Its status cannot be read (wrong credentials, say): the fleet cannot know its ports, so they
            # show 16 and get no units until a poll reads it.  Only the status poll decides this; an error
            # answer to any other request is that request's.
            self._went_down(problem)
            return None
        if self.down_since is not None:
            self._back()  # its status read: up, whatever it was down for
        self.status = answer
        if subscribe:
            self._subscribed, self._heard_at = True, self._clock.time()
            if self.sms_url:
                try:
                    await self._subscribe_sms()
                except MemberDown:
                    self._subscribed = False  # asked again at the next poll
        return answer

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
