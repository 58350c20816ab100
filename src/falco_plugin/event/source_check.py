"""What a source may emit with ``batch.add_event``: the events the host can take.

A source plugin without an id is Falco's ``syscall`` source: its events go straight to
libsinsp's parsers, formatters and filter checks, which trust them as they trust a kernel
driver. ``add_event`` (C, ``_native/shim_evcheck.c``, from tables generated out of the event
schema by ``scripts/gen_events.py``) refuses with a ValueError every event that real libsinsp
would crash on (SIGSEGV), throw on (Falco then stops: every exception of its event loop is
fatal) or read out of bounds; the event is not added. Measured on libsinsp 0.25 (every
event type, through Falco's own fields and outputs), the rules are:

- a known event type that drivers emit: not one of the schema's unused (``EF_UNUSED``)
  placeholders, and not a CPU hotplug event (libsinsp aborts a live capture on it);
- at least the parameters of its type (with fewer, libsinsp's parsers throw on the missing
  ones); more are accepted, as libsinsp skips the ones a newer driver adds; the parameter
  lengths add up to the event's length;
- fixed-size parameters (integers, fds, flags, addresses of one family) have exactly their
  size, and are never empty: libsinsp reads them unchecked (an empty one throws in 156 of
  the schema's parameters). The one exception is the ``size`` of ``sendmsg``'s exit event,
  which the kernel drivers themselves leave empty;
- strings (``PT_CHARBUF``, ``PT_FSPATH``, ``PT_FSRELPATH``) are empty or exactly one string
  ending with its NUL; socket addresses and tuples meet libsinsp's own validity rules (the
  full layout of their family, an AF_UNIX path ending with its NUL); an fd list's size
  matches its count; a dynamic parameter's index is in its table and its value fits that
  entry; string arrays (``PT_CHARBUFARRAY``, ``PT_CHARBUF_PAIR_ARRAY``) are empty, as
  libsinsp formats them as pointers (SIGSEGV on any content);
- a syscall id (the ID of a generic event) is inside libsinsp's syscall table: ``evt.type``
  reads that table with it (SIGSEGV beyond it);
- a plugin event carries a plugin id: with 0 libscap ends the capture;
- a thread's exit event does not name the thread as its own reaper (libsinsp throws when it
  has children).

A source with an id emits only its plugin events (type 322, two parameters: a 4-byte plugin
id, 0 or its own, and the payload), as libscap requires of it.
"""

from __future__ import annotations

__all__ = ["describe"]


def describe(event_type: int, param: int, why: str) -> str:
    """The message of a refused event: which parameter of which event type, and what is
    wrong (``event_type`` -1 when the event is too short to have one, ``param`` -1 when the
    whole event is at fault)."""
    from ._generated import EVENT_TABLE

    if event_type < 0:
        return f"event refused: {why}"
    if event_type >= len(EVENT_TABLE):
        return (
            f"event refused: event type {event_type}: {why} "
            f"(the event schema has {len(EVENT_TABLE)} types)"
        )
    _code, event_id, name, direction, _cat, _flags, _large, params = EVENT_TABLE[event_type]
    kind = "enter" if direction == ">" else "exit"
    where = f"{name} {kind} event ({event_id}, type {event_type})"
    if 0 <= param < len(params):
        pname, _attr, ptype = params[param][:3]
        where = f"parameter {param} '{pname}' ({ptype}) of the {where}"
    return f"event refused: {where}: {why}"
