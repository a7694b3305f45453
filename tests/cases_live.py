"""Bad ``--live`` options and ``labbench view`` calls: an open bind without a token, a
short token, a live option without ``--live``, a port in use.  Each is refused before
anything is measured (no dataset is made), naming the fix."""
from __future__ import annotations

import socket

from badcases import Case

BUSY_PORT = 47391
_held: list[socket.socket] = []


def _hold_port(tmp) -> None:
    """Something else listens on BUSY_PORT (this process holds it until it ends)."""
    if _held:
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", BUSY_PORT))
        s.listen()
    except OSError:          # in use already: as good
        s.close()
        return
    _held.append(s)


DB = ("--db", "{tmp}/d.db")
SWEEP = "name: s\ndata: {kind: synthetic, train: 100, test: 50}\ntrain: {sizes: [16, 4, 4], epochs: 1, batch: 50}\n" \
        "seeds: [0, 1]\n"
OPEN = r"--live-host 0\.0\.0\.0: .*open to the network.*--live-token auto"

CASES = [
    Case("live-open-bind-no-token", ["measure", "array-map", "--live", "--live-host", "0.0.0.0", *DB], OPEN,
         exit_codes=(2,), forbid=("{tmp}/d.db",)),
    Case("live-open-bind-ipv6-no-token", ["measure", "array-map", "--live", "--live-host", "::", *DB],
         r"--live-host ::: .*--live-token", exit_codes=(2,), forbid=("{tmp}/d.db",)),
    Case("live-short-token", ["measure", "array-map", "--live", "--live-token", "abc", *DB],
         r"--live-token: give at least 16 characters", exit_codes=(2,), forbid=("{tmp}/d.db",)),
    Case("live-host-without-live", ["measure", "array-map", "--live-host", "0.0.0.0", *DB],
         r"--live-host is used only with --live", exit_codes=(2,), forbid=("{tmp}/d.db",)),
    Case("live-port-in-use", ["measure", "array-map", "--live", "--live-port", str(BUSY_PORT), *DB],
         rf"--live-port {BUSY_PORT}: that port is in use.*--live-port 0", setup=_hold_port, exit_codes=(1, 2),
         forbid=("{tmp}/d.db",)),
    # training and sweeps check the options before they load any data
    Case("live-train-open-bind", ["train", "--live", "--live-host", "0.0.0.0", "--data", "{tmp}/nomnist"], OPEN,
         exit_codes=(2,), forbid=("{tmp}/nomnist",)),
    Case("live-train-port-without-live", ["train", "--live-port", "5006", "--data", "{tmp}/nomnist"],
         r"--live-port is used only with --live", exit_codes=(2,), forbid=("{tmp}/nomnist",)),
    Case("live-sweep-token-without-live", ["sweep", "{tmp}/s.yaml", "--out", "{tmp}/out", "--live-token", "auto"],
         r"--live-token is used only with --live", files={"s.yaml": SWEEP}, exit_codes=(2,),
         forbid=("{tmp}/out",)),
    Case("live-characterize-open-bind", ["characterize", "sim", "--out", "{tmp}/chip", "--live", "--live-host",
                                         "0.0.0.0"], OPEN, exit_codes=(2,), forbid=("{tmp}/chip/labbench.db",)),
    # labbench view: a recorded run
    Case("view-open-bind-no-token", ["view", "1", "--out", "{tmp}", "--host", "0.0.0.0"],
         r"--host 0\.0\.0\.0: .*give --token auto", exit_codes=(1, 2)),
    Case("view-short-token", ["view", "1", "--out", "{tmp}", "--token", "short"], r"--token: give at least 16 characters",
         exit_codes=(1, 2)),
    Case("view-no-dataset", ["view", "1", "--out", "{tmp}/none"], r"no dataset at .*labbench\.db", exit_codes=(1, 2)),
    Case("view-run-zero", ["view", "0", "--out", "{tmp}"], r"0 is not in the range x>=1", exit_codes=(2,)),
]
