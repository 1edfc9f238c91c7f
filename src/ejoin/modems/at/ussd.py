"""USSD over AT (``AT+CUSD``, TS 27.007 7.15): one exchange at a time on a module, its answer read
from the ``+CUSD`` result that follows, in the module's character set and the network's coding.

"+CUSD: 2" (released) and "+CUSD: 3" (another client answered) may be a notice before the answer
(Vodacom: "Initiating Release"): the answer is what comes within ``USSD_NOTICE_GRACE``, else the
notice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ...clock import Clock, Timer
from ...protocol.at import quoted, split_args
from ...protocol.at_fields import ussd_code, ussd_text
from ..base import UssdReply
from .channel import ATError, Channel, CommandTimeout
from .profiles import Profile

USSD_NOTICE_GRACE = 2.0


class UssdExchange:
    """The USSD side of one module.  ``lock`` is held by whoever talks USSD (the device, a balance read)."""

    def __init__(self, channel: Channel, clock: Clock, profile: Profile, charset: Callable[[], str]) -> None:
        self._channel = channel
        self._clock = clock
        self._profile = profile
        self._charset = charset
        self._reply: asyncio.Future[UssdReply] | None = None
        self._notice: tuple[UssdReply, Timer] | None = None  # a release notice; the answer may follow
        self.lock = asyncio.Lock()

    async def ask(self, code: str, timeout: float) -> UssdReply:
        """Send ``code`` and wait for the network's answer (the caller holds ``lock``)."""
        reply: asyncio.Future[UssdReply] = asyncio.get_running_loop().create_future()
        self._reply = reply

        def expired() -> None:
            if not reply.done():
                reply.set_exception(TimeoutError(f"the network did not answer {code!r} in {timeout:g} s"))

        timer = self._clock.call_later(timeout, expired)  # the device's clock, like every timeout here
        try:
            text = ussd_code(code, self._charset(), self._profile.ussd_packed)
            try:
                answer = await self._channel.command(
                    f"AT+CUSD=1,{quoted(text)},{self._profile.ussd_dcs}", timeout=timeout
                )
            except CommandTimeout:
                raise TimeoutError(f"no answer to AT+CUSD in {timeout:g} s") from None
            if not answer.ok:
                raise ATError("AT+CUSD", answer.final)
            return await reply
        finally:
            timer.cancel()
            self._reply = None
            self._drop_notice()

    async def cancel(self) -> None:
        await self._channel.command("AT+CUSD=2")

    def heard(self, args: str) -> None:
        """A ``+CUSD`` result: the answer to the code in flight (or a notice before it)."""
        fields = split_args(args)
        mode = int(fields[0]) if fields and fields[0].isdigit() else 2
        text = fields[1] if len(fields) > 1 else ""
        dcs = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else 15
        reply = self._reply
        if reply is None or reply.done():
            return
        decoded = ussd_text(text, dcs, self._charset(), self._profile.ussd_packed)
        if mode in (0, 1):
            self._drop_notice()
            reply.set_result(UssdReply(decoded, session_open=mode == 1))
        elif mode == 4:
            self._drop_notice()
            reply.set_result(UssdReply(decoded or "the network does not support this code", session_open=False))
        elif mode == 5:
            self._drop_notice()
            reply.set_exception(TimeoutError("the network timed out (+CUSD: 5)"))
        elif self._notice is None:
            # Released (2) or answered elsewhere (3): the answer itself may still come.
            notice = UssdReply(decoded, session_open=False)
            self._notice = (notice, self._clock.call_later(USSD_NOTICE_GRACE, self._notice_is_answer, reply))

    def _notice_is_answer(self, reply: asyncio.Future[UssdReply]) -> None:
        held, self._notice = self._notice, None
        if held is not None and not reply.done():
            reply.set_result(held[0])

    def _drop_notice(self) -> None:
        held, self._notice = self._notice, None
        if held is not None:
            held[1].cancel()
