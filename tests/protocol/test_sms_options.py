"""Send-task options as real clients send them (protocol/sms.py)."""

import pytest

from ejoin.protocol.codes import TaskStatus
from ejoin.protocol.ports import DeviceSize
from ejoin.protocol.sms import SendTaskIn, TaskRejected, validate_task

SIZE = DeviceSize(8, 4)


def lanes(to_all):
    task = SendTaskIn(tid=1, to="111", sms="x", from_="2,8", to_all=to_all)
    return [lane.ports for lane in validate_task(task, SIZE, max_recipients=10).lanes]


EVERY_PORT = [["2"], ["8"]]  # each listed port sends to every recipient
SHARED = [["2", "8"]]


@pytest.mark.parametrize("to_all", [None, "", 1, "1", 8, "8", 2, -1, "12", 1.0, True, 99999999999999999999])
def test_any_non_zero_to_all_means_1(to_all):
    # clients send the port number there ("to_all": 8)
    assert lanes(to_all) == EVERY_PORT


@pytest.mark.parametrize("to_all", [0, "0", " 0 ", 0.0, False])
def test_zero_to_all_shares_the_listed_ports(to_all):
    assert lanes(to_all) == SHARED


@pytest.mark.parametrize("to_all", ["yes", "nan", [1], {"a": 1}])
def test_a_to_all_that_is_no_number_is_refused(to_all):
    with pytest.raises(TaskRejected) as exc:
        lanes(to_all)
    assert exc.value.status == TaskStatus.INVALID_CMD and "to_all" in exc.value.why
