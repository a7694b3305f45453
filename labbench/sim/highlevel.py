"""The PyVISA backend: ``ResourceManager(LabbenchVisaLibrary(key))`` or ``'<key>@labbench'``.

Like pyvisa-sim's ``SimVisaLibrary`` it is a :class:`pyvisa.highlevel.VisaLibraryBase`
that dispatches sessions to simulated devices; unlike it, a read returns the whole
pending response in one call (pyvisa-sim hands out one byte per call), and an empty
output queue is a VISA timeout at once (virtual time: nothing would ever arrive), so a
driver waiting on a missing reply fails fast instead of hanging.
"""
from __future__ import annotations

import itertools
from typing import Any

from pyvisa import attributes, constants, errors, highlevel, rname
from pyvisa.util import LibraryPath

from .instrument import SimInstrument
from labbench.addressing import canonical_address

from .world import SimWorld, find_world

_S = constants.StatusCode
_TMO = constants.ResourceAttribute.timeout_value
# an infinite VISA timeout still bounds a script's instrument time (60 s: a runaway
# loop on the simulated instrument costs about a second of wall time)
MAX_SCRIPT_MS = 60_000.0


class _Session:
    __slots__ = ("device", "attrs", "name")

    def __init__(self, device: SimInstrument | None, name: str, rm_session: int, parsed=None):
        self.device = device
        self.name = name
        self.attrs: dict[Any, Any] = {constants.ResourceAttribute.resource_manager_session: rm_session,
                                      constants.ResourceAttribute.resource_name: name}
        if parsed is not None:
            self.attrs[constants.ResourceAttribute.resource_class] = parsed.resource_class
            self.attrs[constants.ResourceAttribute.interface_type] = parsed.interface_type_const


class LabbenchVisaLibrary(highlevel.VisaLibraryBase):
    """VISA library serving the instruments of one :class:`SimWorld`."""

    world: SimWorld

    @staticmethod
    def get_library_paths():
        return (LibraryPath("unset"),)

    @staticmethod
    def get_debug_info():
        return {"backend": "labbench simulated bench"}

    @classmethod
    def for_world(cls, world: SimWorld) -> "LabbenchVisaLibrary":
        return cls(world.register())

    @classmethod
    def release(cls, world: SimWorld) -> None:
        """Forget ``world``: PyVISA caches one library per path for the process."""
        if world.key is None:
            return
        for key in [k for k in highlevel.VisaLibraryBase._registry
                    if k[0] is cls and str(k[1]) == world.key]:
            lib = highlevel.VisaLibraryBase._registry.pop(key)
            lib.sessions.clear()
        world.unregister()

    def _init(self) -> None:
        self.world = find_world(str(self.library_path))
        self.sessions: dict[int, _Session] = {}
        self._ids = itertools.count(1_000_001)

    def _new_session(self, sess: _Session) -> int:
        sid = next(self._ids)
        self.sessions[sid] = sess
        return sid

    # -- resource manager -------------------------------------------------------------
    def open_default_resource_manager(self):
        return self._new_session(_Session(None, "RM", 0)), _S.success

    def list_resources(self, session, query: str = "?*::INSTR"):
        found = rname.filter(tuple(self.world.by_address), query)
        if found:
            return found
        raise errors.VisaIOError(_S.error_resource_not_found.value)

    def open(self, session, resource_name, access_mode=constants.AccessModes.no_lock,
             open_timeout=constants.VI_TMO_IMMEDIATE):
        try:
            parsed = rname.parse_resource_name(resource_name)
            addr = canonical_address(resource_name)
        except (rname.InvalidResourceName, ValueError):
            return 0, _S.error_invalid_resource_name
        dev = self.world.by_address.get(addr)
        if dev is None:
            return 0, _S.error_resource_not_found
        return self._new_session(_Session(dev, addr, session, parsed)), _S.success

    def close(self, session):
        return _S.success if self.sessions.pop(session, None) is not None else _S.error_invalid_object

    # -- I/O ----------------------------------------------------------------------------
    def write(self, session, data: bytes):
        sess = self.sessions.get(session)
        if sess is None or sess.device is None:
            return 0, _S.error_invalid_object
        dev = sess.device
        w = dev.world
        if w is not None:  # one VISA transaction: latency plus bytes on the bus (every write and read)
            dt = dev.tx_latency + len(data) * dev.tx_per_byte
            w.transactions += 1
            w.transport_time += dt
            w.clock._t += dt
        try:
            dev.write(bytes(data))
        except ConnectionError:
            raise errors.VisaIOError(_S.error_connection_lost.value) from None
        return len(data), _S.success

    def read(self, session, count: int):
        sess = self.sessions.get(session)
        if sess is None or sess.device is None:
            return b"", _S.error_invalid_object
        try:
            out = sess.device.read()
        except ConnectionError:
            raise errors.VisaIOError(_S.error_connection_lost.value) from None
        if out is None:
            raise errors.VisaIOError(_S.error_timeout.value)
        dev = sess.device
        w = dev.world
        if w is not None:
            dt = dev.tx_latency + len(out) * dev.tx_per_byte
            w.transactions += 1
            w.transport_time += dt
            w.clock._t += dt
        if len(out) > count:  # the rest stays queued for the next read
            dev.unread(out[count:])
            return out[:count], _S.success_max_count_read
        return out, _S.success

    def clear(self, session):
        sess = self.sessions.get(session)
        if sess is None or sess.device is None:
            return _S.error_invalid_object
        sess.device.clear()
        return _S.success

    def assert_trigger(self, session, protocol):
        sess = self.sessions.get(session)
        if sess is None or sess.device is None:
            return _S.error_invalid_object
        sess.device.bus_trigger()
        return _S.success

    def read_stb(self, session):
        sess = self.sessions.get(session)
        if sess is None or sess.device is None:
            return 0, _S.error_invalid_object
        return sess.device.status_byte(), _S.success

    def flush(self, session, mask):
        return _S.success

    # -- attributes ---------------------------------------------------------------------
    def get_attribute(self, session, attribute):
        sess = self.sessions.get(session)
        if sess is None:
            return 0, _S.error_invalid_object
        if attribute in sess.attrs:
            return sess.attrs[attribute], _S.success
        attr = attributes.AttributesByID.get(attribute)
        if attr is None:
            return 0, _S.error_nonsupported_attribute
        return attr.default, _S.success

    def set_attribute(self, session, attribute, attribute_state):
        sess = self.sessions.get(session)
        if sess is None:
            return _S.error_invalid_object
        sess.attrs[attribute] = attribute_state
        if attribute == _TMO and sess.device is not None:
            # what a script on the instrument may take before the driver gives up
            tmo = attribute_state if attribute_state is not None else MAX_SCRIPT_MS
            sess.device.visa_timeout = min(float(tmo), MAX_SCRIPT_MS) / 1000.0
        return _S.success

    def disable_event(self, session, event_type, mechanism):
        return _S.success

    def discard_events(self, session, event_type, mechanism):
        return _S.success

    def enable_event(self, session, event_type, mechanism, context=None):
        return _S.success

    def lock(self, session, lock_type, timeout, requested_key=None):
        return "", _S.success

    def unlock(self, session):
        return _S.success


WRAPPER_CLASS = LabbenchVisaLibrary
