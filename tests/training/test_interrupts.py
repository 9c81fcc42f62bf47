"""The first SIGINT/SIGTERM becomes a stop request; the second acts as usual."""

import signal

import pytest

from tfdeeplab.training.interrupts import StopRequests

pytestmark = pytest.mark.usefixtures("ctrl_c_interrupts")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_is_a_request_and_restores_the_handlers(signum):
    before = signal.getsignal(signum)
    with StopRequests() as stop:
        assert stop.requested is None
        assert signal.getsignal(signum) not in (before, signal.SIG_DFL)
        signal.raise_signal(signum)  # delivered to this (the main) thread
        assert stop.requested == signum
        assert signal.getsignal(signum) == before  # a second signal acts as usual
    assert signal.getsignal(signal.SIGINT) == signal.default_int_handler


def test_handlers_are_put_back_when_no_signal_came():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with StopRequests() as stop:
        pass
    assert stop.requested is None
    assert {s: signal.getsignal(s) for s in before} == before


def test_disabled_installs_nothing():
    with StopRequests(enabled=False) as stop:
        assert signal.getsignal(signal.SIGINT) == signal.default_int_handler
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert stop.requested is None
