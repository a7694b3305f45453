"""How long a sweep would take, before it starts: ``--dry-run`` prints it, ``--budget`` refuses
a sweep beyond it (issue 26: a 3-hour map should say so before the first point).

Each distinct network of the sweep (sizes, batch, precision, array) is trained once on a short
probe (the first ``PROBE`` images of its own data, at least 20 batches, device in the loop with
the first such point's device model) for its samples/s; every point then costs epochs × (its training images
+ its test pass) at that rate, and the points share the workers.  The probe measures this
machine as it is now, so a loaded machine gives a longer estimate, as it should.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

#: samples the probe trains on (after the compiled loops are warm)
PROBE = 2000
MNIST_TRAIN, MNIST_TEST = 60000, 10000


@dataclass
class Estimate:
    seconds: float
    workers: int
    rates: dict[str, float]          # network -> samples/s on the probe
    point_seconds: list[float]

    def text(self) -> str:
        nets = "; ".join(f"{k}: {v:,.0f} samples/s" for k, v in self.rates.items())
        return (f"estimate: {len(self.point_seconds)} point(s), {duration_text(sum(self.point_seconds))} of training "
                f"in all, about {duration_text(self.seconds)} on {self.workers} worker(s) (probe on this machine: "
                f"{nets})")


def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _network_key(train: dict) -> tuple:
    return (tuple(train.get("sizes", (784, 500, 10))), train.get("batch", 100), train.get("precision", "mixed-precision"),
            train.get("mode", "sim"))


def _probe(point) -> tuple[float, float]:
    """(samples/s, fixed seconds per point) of ``point``'s network, trained on the first ``PROBE`` images (at least 20
    batches) of its own data: the pulses a sample costs depend on the data (a synthetic
    probe ran strict 784-500-10 at 3x MNIST's rate), and at batch 1000 two batches ran 2.4x
    faster than an epoch (no refresh check came round)."""
    from labbench.bnn.run import TrainRun
    from labbench.bnn.spec import TrainSpec

    train = {k: v for k, v in point.train.items() if k not in ("epochs", "train_subset")}
    batch = int(train.get("batch", 100))
    n = max(PROBE, 20 * batch)
    data = dict(point.data or {})
    subset = {"train": n} if data.get("kind") == "synthetic" else {"train_subset": n}
    if "train" in subset:
        data["train"] = max(int(data.get("train") or 0), n)
    spec = TrainSpec(**train, **{k: v for k, v in subset.items() if k == "train_subset"}, epochs=1,
                     device_model=point.model(), data=data, output={"dir": None, "db": None, "plots": False})
    t0 = time.perf_counter()
    hist = TrainRun(spec, progress=False, download=False).run()
    wall = time.perf_counter() - t0
    rate = float(hist[-1]["samples_per_s"])
    # what a point costs beside its epochs' samples: loading the data, compiling, the test pass
    # and the checkpoint (the strict map's points took 1.5x their samples' time without it)
    return rate, max(wall - n / rate, 0.0)


def estimate(sw, workers: int) -> Estimate:
    """The sweep ``sw`` (a :class:`labbench.sweep.spec.Sweep`) on ``workers`` workers."""
    rates, fixed, seconds = {}, {}, []
    for p in sw.points:
        key = _network_key(p.train)
        name = "-".join(map(str, key[0])) + f" {key[2]}" + (f" {key[3]}" if key[3] != "sim" else "")
        if name not in rates:
            rates[name], fixed[name] = _probe(p)
        if (p.data or {}).get("kind") == "synthetic":
            n_train, n_test = p.data.get("train") or 400, p.data.get("test") or 200
        else:
            n_train, n_test = p.train.get("train_subset") or MNIST_TRAIN, MNIST_TEST
        epochs = int(p.train.get("epochs", 10))
        # a test pass is a forward pass only: about a third of a training sample's work
        seconds.append(fixed[name] + epochs * (n_train + n_test / 3) / rates[name])
    workers = max(1, min(int(workers), len(seconds) or 1))
    # the points share the workers; the longest point bounds the wall time from below
    total = max(sum(seconds) / workers, max(seconds, default=0.0))
    return Estimate(seconds=total, workers=workers, rates=rates, point_seconds=seconds)
