"""The SDK's public types, checked by mypy (pyproject ``[tool.mypy] files``), never run:
each endpoint method returns its model, on both clients."""

from __future__ import annotations

from typing import Any, assert_type

from ejoin.client import (
    AsyncClient,
    AtAnswer,
    CallStat,
    Client,
    DevStatus,
    EsimResult,
    Euicc,
    InboxPage,
    PushQueue,
    SendTask,
    SmsStat,
    TaskPage,
    TaskResult,
    UssdAnswer,
)


def sync(dev: Client) -> None:
    assert_type(dev.status(all_slots=True), DevStatus)
    assert_type(dev.command("lock", "1"), None)
    assert_type(dev.lock("1"), None)
    assert_type(dev.unlock([1, "2.02"]), None)
    assert_type(dev.switch("2.02"), None)
    assert_type(dev.reset(3), None)
    assert_type(dev.led(4, on=False), None)
    assert_type(dev.save(), None)
    assert_type(dev.reboot(), None)
    assert_type(dev.multiple([("lock", "1")]), None)
    assert_type(dev.get_params("sms_url"), dict[str, Any])
    assert_type(dev.set_params({"a": 1}, b=2), int)
    assert_type(dev.send(SendTask.text("1", "x"), sr_url="http://x"), list[TaskResult])
    assert_type(dev.send_sms("1", "x", tid=1), TaskResult)
    assert_type(dev.pause([1]), list[TaskResult] | None)
    assert_type(dev.resume(), list[TaskResult] | None)
    assert_type(dev.remove(), list[TaskResult] | None)
    assert_type(dev.tasks(1, content=True), TaskPage)
    assert_type(dev.inbox(sms_id=2), InboxPage)
    assert_type(dev.sms_stats(ports="1-4", type=3), list[SmsStat])
    assert_type(dev.call_stats(), list[CallStat])
    assert_type(dev.esims(1), list[Euicc])
    assert_type(dev.write_esims([{"port": 1}]), list[EsimResult])
    assert_type(dev.delete_esims([{"port": 1}]), list[EsimResult])
    assert_type(dev.pushes(), PushQueue)
    assert_type(dev.retry_pushes(), dict[str, int])
    assert_type(dev.drop_pushes("http://x", queued=True), dict[str, int])
    assert_type(dev.ussd(1, "*100#", timeout=5, cancel=True), UssdAnswer)
    assert_type(dev.ussd_cancel("1.01"), UssdAnswer)
    assert_type(dev.at(1, "AT+CSQ"), AtAnswer)


async def asynchronous(dev: AsyncClient) -> None:
    assert_type(await dev.status(all_slots=True), DevStatus)
    assert_type(await dev.command("lock", "1"), None)
    assert_type(await dev.lock("1"), None)
    assert_type(await dev.unlock([1, "2.02"]), None)
    assert_type(await dev.switch("2.02"), None)
    assert_type(await dev.reset(3), None)
    assert_type(await dev.led(4, on=False), None)
    assert_type(await dev.save(), None)
    assert_type(await dev.reboot(), None)
    assert_type(await dev.multiple([("lock", "1")]), None)
    assert_type(await dev.get_params("sms_url"), dict[str, Any])
    assert_type(await dev.set_params({"a": 1}, b=2), int)
    assert_type(await dev.send(SendTask.text("1", "x"), sr_url="http://x"), list[TaskResult])
    assert_type(await dev.send_sms("1", "x", tid=1), TaskResult)
    assert_type(await dev.pause([1]), list[TaskResult] | None)
    assert_type(await dev.resume(), list[TaskResult] | None)
    assert_type(await dev.remove(), list[TaskResult] | None)
    assert_type(await dev.tasks(1, content=True), TaskPage)
    assert_type(await dev.inbox(sms_id=2), InboxPage)
    assert_type(await dev.sms_stats(ports="1-4", type=3), list[SmsStat])
    assert_type(await dev.call_stats(), list[CallStat])
    assert_type(await dev.esims(1), list[Euicc])
    assert_type(await dev.write_esims([{"port": 1}]), list[EsimResult])
    assert_type(await dev.delete_esims([{"port": 1}]), list[EsimResult])
    assert_type(await dev.pushes(), PushQueue)
    assert_type(await dev.retry_pushes(), dict[str, int])
    assert_type(await dev.drop_pushes("http://x", queued=True), dict[str, int])
    assert_type(await dev.ussd(1, "*100#", timeout=5, cancel=True), UssdAnswer)
    assert_type(await dev.ussd_cancel("1.01"), UssdAnswer)
    assert_type(await dev.at(1, "AT+CSQ"), AtAnswer)
