"""A simulated message-based instrument: IEEE 488.2 commons, SCPI status, faults.

Subclasses declare their settings as a table of :class:`~labbench.sim.props.Prop` rows
(``PROPS``, one instance per entry of ``INDEXES``: channels or cards) and their behaviour
with :func:`~labbench.sim.scpi.command` handlers.  The base
class turns bytes written by the VISA layer into handler calls, keeps the output queue,
the standard event status register and the error queue, and never lets an exception
escape: anything unexpected becomes −200 "Execution error" in the queue, as an
instrument's firmware would report it.
"""
from __future__ import annotations

import logging

import random
import re
from typing import TYPE_CHECKING

from .props import Prop, build_handlers
from .transport import TRANSPORTS
from .scpi import (CommandTable, SCPIError, ErrorQueue, command, extract_blocks, nargs,
                   parse_unit_cached, split_units, to_int)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .world import SimWorld

# standard event status register bits (IEEE 488.2 §11.5.1)
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME = 1, 4, 8, 16, 32

_NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NUMBERS = re.compile(rb"[-+0-9.eE]+(?:[,\t ]+[-+0-9.eE]+)*")
FAULTS = ("timeout", "disconnect", "garbage", "truncate", "nan", "error")
# what each does to the instrument, from the moment it is switched on:
#   timeout     no reply (the VISA read times out)
#   disconnect  every write and read raises ConnectionError (the cable is out)
#   garbage     replies are random bytes
#   truncate    replies are cut in half (a flaky bus; '1.23456E-05' reads as '1.234')
#   nan         numeric replies read 'NaN'
#   error       one entry (-200) lands in the error queue, then the instrument behaves


def _esr_bit(code: int) -> int:
    if -199 <= code <= -100:
        return ESR_CME
    if -299 <= code <= -200:
        return ESR_EXE
    if -399 <= code <= -300:
        return ESR_DDE
    if -499 <= code <= -400:
        return ESR_QYE
    return ESR_DDE


class SimInstrument:
    """Base simulated instrument; ``IDN`` is (manufacturer, model, serial, firmware)."""

    IDN: tuple[str, str, str, str] = ("labbench", "SIM", "0", "1.0")
    PROPS: tuple[Prop, ...] = ()
    INDEXES: tuple[int, ...] = (1,)   # channels (or cards) that each carry the PROPS
    DEFAULT_INDEX = 1                  # the one a header without a suffix addresses
    transport = TRANSPORTS["GPIB"]     # set from the address by SimWorld.add
    tx_latency = transport.latency     # its figures, flattened for the VISA layer's hot path
    tx_per_byte = transport.per_byte
    OPT: str | None = None             # *OPT? reply; None: the instrument has no *OPT?
    visa_timeout = 2.0                 # s: the session's VISA timeout (set by the backend on write)
    _table: CommandTable

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._table = CommandTable.collect(cls)
        seen = set()
        for p in cls.PROPS:
            if p.name in seen and not p.alias:
                raise TypeError(f"{cls.__name__}: property {p.name!r} declared twice")
            seen.add(p.name)
            cls._table.add(p.header, *build_handlers(p, cls))
        cls._defaults = {p.name: p.default for p in cls.PROPS if not p.alias}

    def __init__(self, world: "SimWorld | None", name: str, address: str):
        self.world = world
        self.name = name
        self.address = address
        self.errors = ErrorQueue(10)
        self.esr = 0
        self.ese = 0
        self.sre = 0
        self._out = b""
        self.fault: str | None = None   # one of FAULTS, set by tests
        self.fault_at: tuple[str, int] | None = None   # (fault, after N transactions): see schedule_fault
        self._transactions = 0
        self.log: list[str] | None = None  # set to [] to record every message received
        self.blocks: list[bytes] = []      # binary blocks of the message being executed
        self.reset()

    # -- hooks subclasses override ----------------------------------------------------
    def reset(self) -> None:
        """*RST: every property row to its *RST value (the error queue is kept).
        Subclasses extend it with their behaviour state and call ``super().reset()``."""
        d = self._defaults
        self.state: dict[int, dict] = {i: dict(d) for i in self.INDEXES}

    def bus_trigger(self) -> None:
        """*TRG / VISA assert_trigger."""

    def terminal_level(self, terminal: str) -> float | None:
        """DC voltage this instrument drives on ``terminal`` now (None: floating)."""
        return None

    def outputs_on(self) -> list[str]:
        """Names of outputs currently on (for the bench's 'outputs off' checks)."""
        return []

    # -- scheduled faults ---------------------------------------------------------------
    def schedule_fault(self, fault: str, after: int) -> None:
        """Switch ``fault`` on after ``after`` VISA transactions (writes and reads): a
        bench file's ``sim_fault`` replays an instrument that fails mid-run."""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, got {fault!r}")
        self.fault_at = (fault, int(after))
        self._transactions = 0
        self._count_transaction(0)

    def _count_transaction(self, n: int = 1) -> None:
        self._transactions += n
        if self.fault_at is not None and self._transactions >= self.fault_at[1]:
            fault, self.fault_at = self.fault_at[0], None
            if fault == "error":
                self.push_error(SCPIError(-200, "scheduled fault"))
            else:
                self.fault = fault

    def _faulty_reply(self, out: bytes) -> bytes:
        """A reply as the ``truncate``/``nan``/``garbage`` faults deliver it."""
        if self.fault == "garbage":
            return bytes(random.Random(len(out)).getrandbits(8) for _ in range(len(out) - 1)).replace(b"\n", b"#") + b"\n"
        if self.fault == "truncate":
            body = out.rstrip(b"\n")
            return body[:max(1, len(body) // 2)] + b"\n"
        if self.fault == "nan" and _NUMBERS.fullmatch(out.rstrip(b"\n")):
            return _NUMBER.sub(b"NaN", out)
        return out

    # -- VISA side --------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._count_transaction()
        if self.fault == "disconnect":
            raise ConnectionError(self.name)
        if b"#" in data:  # binary blocks are rare: only then is self.blocks renewed
            try:
                data, self.blocks = extract_blocks(data)
            except SCPIError as e:
                self.push_error(e)
                return
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            self.push_error(SCPIError(-101, "non-ASCII byte in message"))
            return
        for message in text.replace("\r", "").split("\n"):
            if message.strip():
                self.execute(message)

    def read(self) -> bytes | None:
        """The pending response, or None (nothing to send: the VISA read times out)."""
        self._count_transaction()
        if self.fault == "disconnect":
            raise ConnectionError(self.name)
        if self.fault == "timeout":
            return None
        out, self._out = self._out, b""
        if not out:
            self.push_error(SCPIError(-420))
            return None
        return self._faulty_reply(out)

    def unread(self, rest: bytes) -> None:
        """Put back the part of a reply a read with a small count did not take."""
        self._out = rest + self._out

    def clear(self) -> None:
        """VISA device clear: empties the I/O buffers."""
        self._out = b""

    # -- execution --------------------------------------------------------------------
    def push_error(self, err: SCPIError) -> None:
        self.errors.push(err)
        self.esr |= _esr_bit(err.code)

    def execute(self, message: str) -> None:
        if self.log is not None:
            self.log.append(message)
        if self._out:  # a new message before the last response was read
            self._out = b""
            self.push_error(SCPIError(-410))
        replies: list[str] = []
        path: list[str] = []
        try:
            units = split_units(message)
        except SCPIError as e:
            self.push_error(e)
            return
        table = self._table
        for unit in units:
            if not unit.strip():
                continue
            try:
                header, is_query, params, new_path = parse_unit_cached(unit, path)
                if new_path is not None:
                    path = new_path
                cmd, sfx = table.lookup(header)
                fn = cmd.query if is_query else cmd.setter
                if fn is None:
                    raise SCPIError(-113, f"{header.lstrip(':')}{'?' if is_query else ''} has no "
                                          f"{'query' if is_query else 'set'} form")
                r = fn(self, params, sfx)
                if is_query:
                    replies.append(str(r))
            except SCPIError as e:
                self.push_error(e)
            except Exception:
                # the instrument's own words only; the Python side goes to the log for us
                log.debug("%s: internal error on %r", self.name, unit, exc_info=True)
                self.push_error(SCPIError(-200))
        if replies:
            self._out = (";".join(replies) + "\n").encode("ascii", "replace")

    # -- IEEE 488.2 common commands ---------------------------------------------------
    @command("*IDN", query=True)
    def _idn(self, args, sfx):
        nargs(args, 0)
        return ",".join(self.IDN)

    @command("*OPT", query=True)
    def _opt(self, args, sfx):
        nargs(args, 0)
        if self.OPT is None:
            raise SCPIError(-113, "*OPT")  # not in this instrument's common command set
        return self.OPT

    @command("*TST", query=True)
    def _tst(self, args, sfx):
        nargs(args, 0)
        return "0"  # self-test passed

    @command("*RST")
    def _rst(self, args, sfx):
        nargs(args, 0)
        self.reset()

    @command("*CLS")
    def _cls(self, args, sfx):
        nargs(args, 0)
        self.errors.clear()
        self.esr = 0

    @command("*OPC", query=True)
    def _opc_q(self, args, sfx):
        nargs(args, 0)
        return "1"  # everything completes synchronously in virtual time

    @command("*OPC")
    def _opc(self, args, sfx):
        nargs(args, 0)
        self.esr |= ESR_OPC

    @command("*WAI")
    def _wai(self, args, sfx):
        nargs(args, 0)

    @command("*TRG")
    def _trg(self, args, sfx):
        nargs(args, 0)
        self.bus_trigger()

    @command("*ESR", query=True)
    def _esr_q(self, args, sfx):
        nargs(args, 0)
        v, self.esr = self.esr, 0
        return str(v)

    @command("*ESE")
    def _ese(self, args, sfx):
        nargs(args, 1)
        self.ese = to_int(args[0], 0, 255)

    @command("*ESE", query=True)
    def _ese_q(self, args, sfx):
        return str(self.ese)

    @command("*SRE")
    def _sre(self, args, sfx):
        nargs(args, 1)
        self.sre = to_int(args[0], 0, 255)

    @command("*SRE", query=True)
    def _sre_q(self, args, sfx):
        return str(self.sre)

    @command("*STB", query=True)
    def _stb_q(self, args, sfx):
        nargs(args, 0)
        return str(self.status_byte())

    def status_byte(self) -> int:
        stb = 0
        if len(self.errors):
            stb |= 4  # error/event available
        if self._out:
            stb |= 16  # message available
        if self.esr & self.ese:
            stb |= 32
        if stb & self.sre:
            stb |= 64
        return stb

    # -- SCPI system subsystem --------------------------------------------------------
    @command(":SYSTem:ERRor[:NEXT]", query=True)
    def _err_next(self, args, sfx):
        nargs(args, 0)
        return self.errors.pop()

    @command(":SYSTem:ERRor:COUNt", query=True)
    def _err_count(self, args, sfx):
        nargs(args, 0)
        return str(len(self.errors))

    @command(":SYSTem:ERRor:ALL", query=True)
    def _err_all(self, args, sfx):
        nargs(args, 0)
        if not len(self.errors):
            return self.errors.pop()
        out = []
        while len(self.errors):
            out.append(self.errors.pop())
        return ",".join(out)

    @command(":SYSTem:VERSion", query=True)
    def _version(self, args, sfx):
        return "1999.0"

    @command(":STATus:PRESet")
    def _stat_pres(self, args, sfx):
        nargs(args, 0)
        self.ese = 0
