"""Simulated Keysight (Agilent) B2200A/B2201A switch matrix (B2200 User's Guide,
"SCPI command reference"): 14 input ports, up to 4 modules of 48 output ports.

Channel lists are ``(@CIIOO,...)``: card digit, 2-digit input, 2-digit output; ranges
``CIIOO:CIIOO`` cover the rectangle between the two corners.  Card 0 addresses the
matrix in Auto configuration mode, which with this simulator's numbering is module 1
(the QCoDeS driver uses card 0 throughout); cards 1-4 address the modules in Normal
mode.  In a card-number argument, 0 means every installed module.

Modelled: CLOSe/OPEN (+ query, CLOSe:CARD?, OPEN:CARD), CONNection:RULE FREE|SROute,
CONNection:SEQuence NSEQ|BBM|MBBR, BIAS and AGND modes (port, state, per-channel
enable, AGND:UNUSED), COUPle port/state.  With the SROute rule a new close releases the
input's and the output's previous connections, as the instrument does.  The ROUTe root
is optional.  ``stuck_open`` (a test fault) lists relays that report closed but do not
conduct.
"""
from __future__ import annotations

import re

from .instrument import SimInstrument
from .scpi import SCPIError, command, nargs, to_bool, to_enum, to_int, to_str

N_INPUTS, N_OUTPUTS = 14, 48
_CHAN = re.compile(r"^(\d)(\d\d)(\d\d)$")


class KeysightB220xSim(SimInstrument):
    IDN = ("Agilent Technologies", "B2201A", "MY12345678", "1.0")
    cards = 4

    def reset(self):
        self.closed: set[tuple[int, int, int]] = set()  # (card, input, output); card 1..4
        self.rule = {c: "FREE" for c in range(1, 5)}
        self.sequence = {c: "BBM" for c in range(1, 5)}
        self.bias_port = {c: 10 for c in range(1, 5)}
        self.bias_on = {c: False for c in range(1, 5)}
        self.bias_enabled: set[tuple[int, int]] = set()  # (card, output)
        self.agnd_port = {c: 12 for c in range(1, 5)}
        self.agnd_on = {c: False for c in range(1, 5)}
        self.agnd_enabled: set[tuple[int, int]] = set()
        self.agnd_unused = {c: [] for c in range(1, 5)}
        self.couple_ports = {c: [] for c in range(1, 5)}
        self.couple_on = {c: False for c in range(1, 5)}
        if not hasattr(self, "stuck_open"):
            self.stuck_open: set[tuple[int, int, int]] = set()
        self.version = 0  # bumped on every routing change (the wiring caches on it)

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
        for card in range(1, self.cards + 1):
            if self.bias_on[card]:
                paths += [(card, self.bias_port[card], o) for (c, o) in self.bias_enabled
                          if c == card and (c, o) not in used_out]
            if self.agnd_on[card]:
                paths += [(card, self.agnd_port[card], o) for (c, o) in self.agnd_enabled
                          if c == card and (c, o) not in used_out]
                paths += [(card, self.agnd_port[card], -i) for i in self.agnd_unused[card]
                          if (card, i) not in used_in]
        return paths

    # -- switching ------------------------------------------------------------------------
    @command("[:ROUTe]:CLOSe[:LIST]")
    def _close(self, args, sfx):
        nargs(args, 1)
        for card, i, o in self._channel_list(args[0]):
            if self.rule[card] == "SROU":
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
        for p in self._channel_list(args[0]):
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

    @command("[:ROUTe]:CONNection:RULE")
    def _rule(self, args, sfx):
        nargs(args, 2)
        mode = to_enum(args[1], ["FREE", "SROUte"])
        for c in self._cards_arg(args[0]):
            self.rule[c] = mode

    @command("[:ROUTe]:CONNection:RULE", query=True)
    def _rule_q(self, args, sfx):
        nargs(args, 1)
        return self.rule[self._cards_arg(args[0])[0]]

    @command("[:ROUTe]:CONNection:SEQuence")
    def _seq(self, args, sfx):
        nargs(args, 2)
        mode = to_enum(args[1], ["NSEQ", "BBM", "MBBR"])
        for c in self._cards_arg(args[0]):
            self.sequence[c] = mode

    @command("[:ROUTe]:CONNection:SEQuence", query=True)
    def _seq_q(self, args, sfx):
        nargs(args, 1)
        return self.sequence[self._cards_arg(args[0])[0]]

    # -- bias and ground modes ------------------------------------------------------------
    def _port_mode(name, attr_port, attr_on, attr_enabled):  # noqa: N805 - builds handlers
        @command(f"[:ROUTe]:{name}:PORT")
        def port(self, args, sfx):
            nargs(args, 2)
            p = to_int(args[1], -1, N_INPUTS)
            if p == 0:
                raise SCPIError(-222, "port 1..14 or -1")
            for c in self._cards_arg(args[0]):
                getattr(self, attr_port)[c] = p
            self.version += 1

        @command(f"[:ROUTe]:{name}:PORT", query=True)
        def port_q(self, args, sfx):
            nargs(args, 1)
            return str(getattr(self, attr_port)[self._cards_arg(args[0])[0]])

        @command(f"[:ROUTe]:{name}[:STATe]")
        def state(self, args, sfx):
            nargs(args, 2)
            on = to_bool(args[1])
            for c in self._cards_arg(args[0]):
                getattr(self, attr_on)[c] = on
            self.version += 1

        @command(f"[:ROUTe]:{name}[:STATe]", query=True)
        def state_q(self, args, sfx):
            nargs(args, 1)
            return str(int(getattr(self, attr_on)[self._cards_arg(args[0])[0]]))

        def _outputs(self, tok):
            out = set()
            for c, i, o in self._channel_list(tok):
                out.add((c, o))
            return out

        @command(f"[:ROUTe]:{name}:CHANnel:ENABle[:LIST]")
        def enable(self, args, sfx):
            nargs(args, 1)
            getattr(self, attr_enabled).update(_outputs(self, args[0]))
            self.version += 1

        @command(f"[:ROUTe]:{name}:CHANnel:DISable[:LIST]")
        def disable(self, args, sfx):
            nargs(args, 1)
            getattr(self, attr_enabled).difference_update(_outputs(self, args[0]))
            self.version += 1

        @command(f"[:ROUTe]:{name}:CHANnel:ENABle:CARD")
        def enable_card(self, args, sfx):
            nargs(args, 1)
            for c in self._cards_arg(args[0]):
                getattr(self, attr_enabled).update((c, o) for o in range(1, N_OUTPUTS + 1))
            self.version += 1

        @command(f"[:ROUTe]:{name}:CHANnel:DISable:CARD")
        def disable_card(self, args, sfx):
            nargs(args, 1)
            cards = set(self._cards_arg(args[0]))
            en = getattr(self, attr_enabled)
            en.difference_update({p for p in en if p[0] in cards})
            self.version += 1

        return port, port_q, state, state_q, enable, disable, enable_card, disable_card

    _bias = _port_mode("BIAS", "bias_port", "bias_on", "bias_enabled")
    _agnd = _port_mode("AGND", "agnd_port", "agnd_on", "agnd_enabled")
    del _port_mode

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

    @command("[:ROUTe]:COUPle[:STATe]")
    def _couple(self, args, sfx):
        nargs(args, 2)
        on = to_bool(args[1])
        for c in self._cards_arg(args[0]):
            self.couple_on[c] = on

    @command("[:ROUTe]:COUPle[:STATe]", query=True)
    def _couple_q(self, args, sfx):
        nargs(args, 1)
        return str(int(self.couple_on[self._cards_arg(args[0])[0]]))

    @command("[:ROUTe]:COUPle:PORT:DETect")
    def _couple_detect(self, args, sfx):
        nargs(args, 0)
