"""Simulated Keysight (Agilent) B2200A/B2201A switch matrix (B2200 User's Guide,
"SCPI command reference"): 14 input ports, up to 4 modules of 48 output ports.

Channel lists are ``(@CIIOO,...)``: card digit, 2-digit input, 2-digit output; ranges
``CIIOO:CIIOO`` cover the rectangle between the two corners.  Card 0 addresses the
matrix in Auto configuration mode, which with this simulator's numbering is module 1
(the QCoDeS driver uses card 0 throughout); cards 1-4 address the modules in Normal
mode.  In a card-number argument, 0 means every installed module.

Settings are the command table ``PROPS`` (one instance per card; a leading card
argument selects it, 0 or ALL meaning every card on a set).  Behaviour: CLOSe/OPEN with
the connection rule (with SROUte a new close releases the input's and the output's
previous connections), and the bias and ground modes as the manual states them: the
bias (ground) port is connected to every bias- (ground-) enabled output that no other
input is connected to; the two modes exclude each other; while a mode is on, its port
cannot be closed or opened directly (-221); AGND:UNUSED inputs are grounded in ground
mode.  The ROUTe root is optional.  ``stuck_open`` (a test fault) lists relays that
report closed but do not conduct.
"""
from __future__ import annotations

import re

from .instrument import SimInstrument
from .props import Bool, Choice, Int
from .scpi import SCPIError, command, nargs, to_int, to_str

N_INPUTS, N_OUTPUTS = 14, 48
_CHAN = re.compile(r"^(\d)(\d\d)(\d\d)$")


def _card_rows():
    card = {"index": "arg"}
    return (
        Choice("rule", "[:ROUTe]:CONNection:RULE", "FREE", ("FREE", "SROUte"), **card),
        Choice("sequence", "[:ROUTe]:CONNection:SEQuence", "BBM", ("NSEQ", "BBM", "MBBR"), **card),
        Int("bias_port", "[:ROUTe]:BIAS:PORT", 10, -1, N_INPUTS, couple="_couple_bias_gnd_port", **card),
        Bool("bias", "[:ROUTe]:BIAS[:STATe]", False, couple="_couple_mode", **card),
        Int("agnd_port", "[:ROUTe]:AGND:PORT", 12, -1, N_INPUTS, couple="_couple_bias_gnd_port", **card),
        Bool("agnd", "[:ROUTe]:AGND[:STATe]", False, couple="_couple_mode", **card),
        Bool("couple", "[:ROUTe]:COUPle[:STATe]", False, **card),
    )


class KeysightB220xSim(SimInstrument):
    # *IDN? as the B2200 User's Guide gives it: AGILENT,model,0,revision
    IDN = ("AGILENT", "B2201A", "0", "A.01.00")
    cards = 4
    INDEXES = (1, 2, 3, 4)
    PROPS = _card_rows()

    def reset(self):
        super().reset()
        self.closed: set[tuple[int, int, int]] = set()  # (card, input, output); card 1..4
        self.bias_enabled: set[tuple[int, int]] = set()  # (card, output)
        self.agnd_enabled: set[tuple[int, int]] = set()
        self.agnd_unused = {c: [] for c in self.INDEXES}
        self.couple_ports = {c: [] for c in self.INDEXES}
        if not hasattr(self, "stuck_open"):
            self.stuck_open: set[tuple[int, int, int]] = set()
        self.version = 0  # bumped on every routing change (the wiring caches on it)
        self._modes_on = False  # some card in bias or ground mode (CLOSe/OPEN then check ports)

    # -- coupling -------------------------------------------------------------------------------
    def _couple_bias_gnd_port(self, card, prop, v):
        if v == 0:
            raise SCPIError(-222, "port 1..14 or -1")
        st = self.state[card]
        other = "agnd_port" if prop.name == "bias_port" else "bias_port"
        if v != -1 and v == st[other]:
            raise SCPIError(-221, f"input {v} is already the {'ground' if other == 'agnd_port' else 'bias'} port")
        st[prop.name] = v
        self.version += 1

    def _couple_mode(self, card, prop, on):
        st = self.state[card]
        other = "agnd" if prop.name == "bias" else "bias"
        if on and st[other]:
            raise SCPIError(-221, f"{'Bias' if prop.name == 'bias' else 'Ground'} Mode cannot be ON "
                                  f"while {'Ground' if other == 'agnd' else 'Bias'} Mode is ON")
        st[prop.name] = on
        self._modes_on = any(c["bias"] or c["agnd"] for c in self.state.values())
        self.version += 1

    def _mode_port(self, card: int, i: int) -> str | None:
        st = self.state[card]
        if st["bias"] and i == st["bias_port"]:
            return "Bias"
        if st["agnd"] and i == st["agnd_port"]:
            return "Ground"
        return None

    # -- channel lists ------------------------------------------------------------------
    def _card(self, card: int) -> int:
        if card == 0:
            return 1
        if not 1 <= card <= self.cards:
            raise SCPIError(-222, f"card {card} not installed (1..{self.cards})")
        return card

    def _channel(self, text: str) -> tuple[int, int, int]:
        m = _CHAN.match(text.strip())
        if not m:
            raise SCPIError(-104, f"channel {text!r} is not CIIOO")
        card, i, o = (int(g) for g in m.groups())
        if not (1 <= i <= N_INPUTS and 1 <= o <= N_OUTPUTS):
            raise SCPIError(-222, f"channel {text}: input 1..{N_INPUTS}, output 1..{N_OUTPUTS}")
        return self._card(card), i, o

    def _channel_list(self, tok: str) -> list[tuple[int, int, int]]:
        t = tok.strip()
        if not (t.startswith("(@") and t.endswith(")")):
            raise SCPIError(-104, f"expected a channel list (@...), got {tok!r}")
        out = []
        for item in t[2:-1].split(","):
            if ":" in item:
                a, _, b = item.partition(":")
                (ca, ia, oa), (cb, ib, ob) = self._channel(a), self._channel(b)
                if ca != cb:
                    raise SCPIError(-224, "a channel range cannot span cards")
                out += [(ca, i, o) for i in range(min(ia, ib), max(ia, ib) + 1)
                        for o in range(min(oa, ob), max(oa, ob) + 1)]
            elif item.strip():
                out.append(self._channel(item))
        return out

    def _cards_arg(self, tok: str) -> list[int]:
        if tok.strip().upper() == "ALL":
            return list(range(1, self.cards + 1))
        c = to_int(tok, 0, 4)
        return list(range(1, self.cards + 1)) if c == 0 else [self._card(c)]

    @staticmethod
    def _fmt_list(chans) -> str:
        return "(@" + ",".join(f"{c}{i:02d}{o:02d}" for c, i, o in sorted(chans)) + ")"

    # -- physics hook -------------------------------------------------------------------
    def conducting(self) -> list[tuple[int, int, int]]:
        """(card, input, output) paths that conduct: closed relays, plus bias/ground mode."""
        paths = [p for p in self.closed if p not in self.stuck_open]
        used_out = {(c, o) for c, _, o in self.closed}
        used_in = {(c, i) for c, i, _ in self.closed}
        for card, st in self.state.items():
            if st["bias"] and st["bias_port"] > 0:
                paths += [(card, st["bias_port"], o) for (c, o) in self.bias_enabled
                          if c == card and (c, o) not in used_out]
            if st["agnd"] and st["agnd_port"] > 0:
                paths += [(card, st["agnd_port"], o) for (c, o) in self.agnd_enabled
                          if c == card and (c, o) not in used_out]
                paths += [(card, st["agnd_port"], -i) for i in self.agnd_unused[card]
                          if (card, i) not in used_in]
        return paths

    # -- switching ------------------------------------------------------------------------
    @command("[:ROUTe]:CLOSe[:LIST]")
    def _close(self, args, sfx):
        nargs(args, 1)
        chans = self._channel_list(args[0])
        self._refuse_mode_ports(chans)
        for card, i, o in chans:
            if self.state[card]["rule"] == "SROU":
                self.closed = {p for p in self.closed
                               if not (p[0] == card and (p[1] == i or p[2] == o))}
            self.closed.add((card, i, o))
        self.version += 1

    @command("[:ROUTe]:CLOSe[:LIST]", query=True)
    def _close_q(self, args, sfx):
        nargs(args, 1)
        return ",".join("1" if p in self.closed else "0" for p in self._channel_list(args[0]))

    @command("[:ROUTe]:CLOSe:CARD", query=True)
    def _close_card_q(self, args, sfx):
        nargs(args, 1)
        cards = set(self._cards_arg(args[0]))
        return self._fmt_list(p for p in self.closed if p[0] in cards)

    @command("[:ROUTe]:OPEN[:LIST]")
    def _open(self, args, sfx):
        nargs(args, 1)
        chans = self._channel_list(args[0])
        self._refuse_mode_ports(chans)
        for p in chans:
            self.closed.discard(p)
        self.version += 1

    @command("[:ROUTe]:OPEN[:LIST]", query=True)
    def _open_q(self, args, sfx):
        nargs(args, 1)
        return ",".join("0" if p in self.closed else "1" for p in self._channel_list(args[0]))

    @command("[:ROUTe]:OPEN:CARD")
    def _open_card(self, args, sfx):
        nargs(args, 1)
        cards = set(self._cards_arg(args[0]))
        self.closed = {p for p in self.closed if p[0] not in cards}
        self.version += 1

    def _refuse_mode_ports(self, chans) -> None:
        if not self._modes_on:
            return
        for card, i, _ in chans:
            mode = self._mode_port(card, i)
            if mode:
                raise SCPIError(-221, f"input {i} is the {mode} port while {mode} Mode is ON")

    # -- bias and ground enabled outputs ------------------------------------------------------
    def _enable_cmds(name, attr):
        def _outputs(self, tok):
            return {(c, o) for c, _, o in self._channel_list(tok)}

        @command(f"[:ROUTe]:{name}:CHANnel:ENABle[:LIST]")
        def enable(self, args, sfx):
            nargs(args, 1)
            getattr(self, attr).update(_outputs(self, args[0]))
            self.version += 1

        @command(f"[:ROUTe]:{name}:CHANnel:ENABle[:LIST]", query=True)
        def enable_q(self, args, sfx):
            nargs(args, 1)
            en = getattr(self, attr)
            return ",".join("1" if (c, o) in en else "0" for c, _, o in self._channel_list(args[0]))

        @command(f"[:ROUTe]:{name}:CHANnel:DISable[:LIST]")
        def disable(self, args, sfx):
            nargs(args, 1)
            getattr(self, attr).difference_update(_outputs(self, args[0]))
            self.version += 1

        @command(f"[:ROUTe]:{name}:CHANnel:ENABle:CARD")
        def enable_card(self, args, sfx):
            nargs(args, 1)
            for c in self._cards_arg(args[0]):
                getattr(self, attr).update((c, o) for o in range(1, N_OUTPUTS + 1))
            self.version += 1

        @command(f"[:ROUTe]:{name}:CHANnel:DISable:CARD")
        def disable_card(self, args, sfx):
            nargs(args, 1)
            cards = set(self._cards_arg(args[0]))
            en = getattr(self, attr)
            en.difference_update({p for p in en if p[0] in cards})
            self.version += 1

        return enable, enable_q, disable, enable_card, disable_card

    _bias_cmds = _enable_cmds("BIAS", "bias_enabled")
    _agnd_cmds = _enable_cmds("AGND", "agnd_enabled")
    del _enable_cmds

    @command("[:ROUTe]:AGND:UNUSed")
    def _unused(self, args, sfx):
        nargs(args, 2)
        text = to_str(args[1])
        ports = [to_int(p, 1, N_INPUTS) for p in text.split(",") if p.strip()]
        for c in self._cards_arg(args[0]):
            self.agnd_unused[c] = ports
        self.version += 1

    @command("[:ROUTe]:AGND:UNUSed", query=True)
    def _unused_q(self, args, sfx):
        nargs(args, 1)
        return "'" + ",".join(str(p) for p in self.agnd_unused[self._cards_arg(args[0])[0]]) + "'"

    @command("[:ROUTe]:COUPle:PORT")
    def _couple_port(self, args, sfx):
        nargs(args, 2)
        ports = [to_int(p, 1, 13) for p in to_str(args[1]).split(",") if p.strip()]
        if any(p % 2 == 0 for p in ports):
            raise SCPIError(-224, "couple ports are the odd inputs 1, 3, ..., 13")
        for c in self._cards_arg(args[0]):
            self.couple_ports[c] = ports

    @command("[:ROUTe]:COUPle:PORT", query=True)
    def _couple_port_q(self, args, sfx):
        nargs(args, 1)
        return "'" + ",".join(str(p) for p in self.couple_ports[self._cards_arg(args[0])[0]]) + "'"

    @command("[:ROUTe]:COUPle:PORT:DETect")
    def _couple_detect(self, args, sfx):
        nargs(args, 0)
