"""The built .so loaded into this (already running) Python process through ctypes.

This is the "host already runs Python" case: the shim must reuse this interpreter, take
the GIL per call, and still speak the plain C ABI. Calls go through ctypes.CDLL, which
releases the GIL around foreign calls like any C host thread would not hold it.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import pytest

from tests.abi import EOF, FAILURE, LOG_FN, SUCCESS, Event, InitInput
from tests.abi import load as abi_load

ROOT = Path(__file__).resolve().parent.parent


def load(path: Path) -> ctypes.CDLL:
    """tests.abi.load plus the source entry points used here."""
    so = abi_load(path)
    so.plugin_open.restype = ctypes.c_void_p
    so.plugin_open.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    so.plugin_next_batch.restype = ctypes.c_int
    so.plugin_next_batch.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_uint32),
        ctypes.POINTER(ctypes.POINTER(ctypes.POINTER(Event))),
    ]
    so.plugin_close.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return so


@pytest.fixture(scope="module")
def lib(falco_build) -> ctypes.CDLL:
    return load(falco_build(str(ROOT / "examples" / "countdown" / "plugin.py")))


@pytest.fixture(scope="module")
def faulty(falco_build) -> ctypes.CDLL:
    so = load(falco_build(str(ROOT / "tests" / "plugins" / "faulty.py")))
    so.plugin_list_open_params.restype = ctypes.c_char_p
    so.plugin_list_open_params.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    return so


_KEEP: list[object] = []  # ctypes callbacks the plugins may call later must stay alive


def init_state(so: ctypes.CDLL, config: bytes) -> tuple[int, int]:
    rc = ctypes.c_int(-99)
    log_fn = LOG_FN(lambda *a: None)
    _KEEP.append(log_fn)
    init = InitInput(config, None, None, None, log_fn)
    state = so.plugin_init(ctypes.byref(init), ctypes.byref(rc))
    return state, rc.value


def read_all(lib: ctypes.CDLL, state: int, inst: int) -> list[bytes]:
    payloads = []
    while True:
        n = ctypes.c_uint32()
        evts = ctypes.POINTER(ctypes.POINTER(Event))()
        rc = lib.plugin_next_batch(state, inst, ctypes.byref(n), ctypes.byref(evts))
        assert rc in (SUCCESS, EOF), lib.plugin_get_last_error(state)
        for i in range(n.value):
            ev = evts[i].contents
            assert ev.type == 322 and ev.nparams == 2
            raw = ctypes.string_at(ctypes.addressof(ev), ev.len)
            payloads.append(raw[38:])
        if rc == EOF:
            return payloads


def test_metadata_needs_no_python(lib: ctypes.CDLL) -> None:
    assert lib.plugin_get_name() == b"countdown"
    assert lib.plugin_get_required_api_version() == b"3.6.0"  # it has metrics


def test_capture_inside_a_python_process(lib: ctypes.CDLL) -> None:
    logs: list[bytes] = []
    log_fn = LOG_FN(lambda owner, comp, msg, sev: logs.append(msg))
    init = InitInput(b'{"batch_size": 3}', None, None, None, log_fn)
    rc = ctypes.c_int(-99)
    state = lib.plugin_init(ctypes.byref(init), ctypes.byref(rc))
    assert rc.value == SUCCESS and state
    inst = lib.plugin_open(state, b"5", ctypes.byref(rc))
    assert rc.value == SUCCESS, lib.plugin_get_last_error(state)
    # next_batch from another thread, as libsinsp's event thread would
    result: list[list[bytes]] = []
    worker = threading.Thread(target=lambda: result.append(read_all(lib, state, inst)))
    worker.start()
    worker.join(30)
    assert result == [[f"{k} events remaining".encode() for k in range(4, -1, -1)]]
    assert logs == [b"counting down from 5"]
    lib.plugin_close(state, inst)
    lib.plugin_destroy(state)


def test_init_failure_returns_a_state_with_the_message(lib: ctypes.CDLL) -> None:
    state, rc = init_state(lib, b'{"batch_size": -1}')
    assert rc == FAILURE and state
    assert b"batch_size must be at least 1, got -1" in lib.plugin_get_last_error(state)
    lib.plugin_destroy(state)


def test_config_that_no_host_validated_is_still_checked(lib: ctypes.CDLL) -> None:
    # an old or lax host may skip schema validation: the SDK's own parser reports it
    for config, message in [
        (b"not json", b"config is not valid JSON"),
        (b'{"batch_size": "x"}', b"config.batch_size: expected an integer, got a string"),
    ]:
        state, rc = init_state(lib, config)
        assert rc == FAILURE and message in lib.plugin_get_last_error(state)
        lib.plugin_destroy(state)


def test_list_open_params_failure(faulty: ctypes.CDLL) -> None:
    state, rc = init_state(faulty, b'{"fail_in": "list_open_params"}')
    assert rc == SUCCESS
    out_rc = ctypes.c_int(-99)
    assert faulty.plugin_list_open_params(state, ctypes.byref(out_rc)) is None
    assert out_rc.value == FAILURE
    assert b"RuntimeError: boom in list_open_params" in faulty.plugin_get_last_error(state)
    faulty.plugin_destroy(state)
    state, rc = init_state(faulty, b"{}")
    assert faulty.plugin_list_open_params(state, ctypes.byref(out_rc)) == (
        b'[{"value": "x", "desc": "an x"}]'
    )
    assert out_rc.value == SUCCESS
    faulty.plugin_destroy(state)
