"""The streamed update (labbench.array.pulse_stream): a layer's pulses sent by row block,
on a helper thread or not, give the one-call update's chip bit for bit; an interrupted
stream leaves the chip, its signs and the rule's residual consistent."""
import threading
import time

import numpy as np
import pytest

import labbench.array.pulse_stream as ps
import labbench.physics.overlap as overlap
import labbench.bnn.optimizers as optimizers
from labbench.array.sim_array import SimArray
from labbench.bnn.optimizers import Adam, row_blocks
from labbench.bnn.trainer import DeviceSynapses, Trainer
from labbench.bnn.update_rules import make_rule
from labbench.physics import kernels, load_device_model
from labbench.physics.chip import _TRUNCATE

ROWS, COLS = 48, 40


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 256 synapses, so a 48 × 40 layer streams in several."""
    monkeypatch.setattr(optimizers, "BLOCK_SYNAPSES", 256)
    monkeypatch.setattr(DeviceSynapses, "stream_min", 0)


def _layer(rule="accumulate", seed=0, tile=None):
    model = load_device_model()
    arr = SimArray(model, ROWS, COLS, seed=seed, tile=tile)
    kw = {"threshold": 0.5} if rule == "threshold" else {"sigma": 1.5} if rule == "noise_aware" else {}
    syn = DeviceSynapses(arr, make_rule(rule, **kw), 1.0 / 64)
    syn.initialize(np.random.default_rng(seed), 1)
    arr.read_signs_float()                 # the sign cache exists, as in training
    return syn


def _train(syn, steps=6, seed=1, streamed=True):
    """``steps`` Adam steps of random gradients; the chip afterwards."""
    if not streamed:
        syn.stream_min = 10 ** 12
    opt = Adam([(ROWS, COLS)])
    rng = np.random.default_rng(seed)           # the trainer's: the stochastic rules draw from it
    grads = np.random.default_rng(seed + 100)
    for _ in range(steps):
        opt.begin_step()
        g = (grads.standard_normal((ROWS, COLS)) * 0.05).astype(np.float32)
        syn.step(opt, 0, g, 0.02, rng)
    return syn.array.tiles[0][2]


def _same_chip(a, b):
    ca, cb = a.array.tiles[0][2], b.array.tiles[0][2]
    assert np.array_equal(ca.g, cb.g)
    assert np.array_equal(ca.write_events, cb.write_events)
    assert np.array_equal(a.array.read_signs_float(), b.array.read_signs_float())
    assert a.array.counters.set_pulses == b.array.counters.set_pulses
    if a.rule.stateful:
        assert np.array_equal(a.rule.residual, b.rule.residual)


@pytest.mark.parametrize("rule", ["accumulate", "stochastic", "threshold", "noise_aware", "deterministic"])
@pytest.mark.parametrize("helper", ["1", "0"])
def test_streamed_update_equals_the_one_call_update(rule, helper, small_blocks, monkeypatch):
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", helper)
    one_call, streamed = _layer(rule), _layer(rule)
    _train(one_call, streamed=False)
    chip = _train(streamed)
    assert streamed.array.counters.set_pulses > 0
    _same_chip(one_call, streamed)
    # energy: the blocks' sums in block order, so only the last bits of the total may move
    assert chip.program_energy == pytest.approx(one_call.array.tiles[0][2].program_energy, rel=1e-12)


def test_a_stream_gives_the_same_energy_with_and_without_the_helper(small_blocks, monkeypatch):
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "1")
    with_helper = _train(_layer())
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "0")
    alone = _train(_layer())
    assert with_helper.program_energy == alone.program_energy
    assert np.array_equal(with_helper.g, alone.g)


def test_the_helper_does_take_blocks(small_blocks, monkeypatch):
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "1")
    syn = _layer()
    _train(syn, steps=2)                     # the residual exists from the second step
    arr = syn.array
    stream = arr.pulse_stream(row_blocks(ROWS, COLS), make_rule("deterministic").compiled(ROWS * COLS, None), 64.0)
    did = []
    real_work = ps._work

    def counted(*job):
        n = real_work(*job)
        did.append((threading.current_thread().name, n))
        return n

    monkeypatch.setattr(ps, "_work", counted)
    with stream:
        stream.dw[:] = 1.0 / 64                 # one pulse on every G+
        stream.post(len(stream.blocks))
        deadline = time.monotonic() + 10
        while stream.ctl[ps._DONE] < len(stream.blocks) and time.monotonic() < deadline:
            time.sleep(0.001)
    # the helper pulsed every block while this thread waited; this thread found none left
    assert did == [(threading.current_thread().name, 0)]
    assert stream.ctl[ps._DONE] == len(stream.blocks)
    assert arr.counters.set_pulses >= ROWS * COLS


def test_a_busy_helper_is_not_waited_for(small_blocks, monkeypatch):
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "1")
    helper = overlap.get_helper()
    assert helper is not None
    with helper._lock:                         # another training holds it
        streamed = _layer()
        _train(streamed)
    one_call = _layer()
    _train(one_call, streamed=False)
    _same_chip(one_call, streamed)


def test_an_interrupted_stream_pulses_what_was_posted_and_stays_consistent(small_blocks, monkeypatch):
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "1")
    syn = _layer()
    _train(syn, steps=2)
    arr, chip = syn.array, syn.array.tiles[0][2]
    residual_before = syn.rule.residual.copy()
    g_before = chip.g.copy()
    opt = Adam([(ROWS, COLS)])
    calls = []
    real = opt.step_rows

    def failing(i, grad, lr, r0, r1, out=None):
        if len(calls) == 3:
            raise KeyboardInterrupt            # Ctrl-C in the middle of a layer's update
        calls.append((r0 * COLS, r1 * COLS))
        return real(i, grad, lr, r0, r1, out)

    monkeypatch.setattr(opt, "step_rows", failing)
    opt.begin_step()
    g = np.full((ROWS, COLS), 0.5, np.float32)   # every synapse gets a pulse
    with pytest.raises(KeyboardInterrupt):
        syn.step(opt, 0, g, 0.05, np.random.default_rng(0))
    assert len(calls) == 3
    pulsed = np.zeros(ROWS * COLS, bool)
    for lo, hi in calls:
        pulsed[lo:hi] = True
    moved = (chip.g.reshape(-1, 2) != g_before.reshape(-1, 2)).any(axis=1)
    assert moved[pulsed].all() and not moved[~pulsed].any()     # exactly the posted blocks
    assert (syn.rule.residual.reshape(-1)[~pulsed] == residual_before.reshape(-1)[~pulsed]).all()
    # the cached signs are what the sense amplifier reads now
    fresh = np.where(arr._sense(arr._diff()) >= 0, np.float32(1), np.float32(-1))
    assert np.array_equal(arr.read_signs_float(), fresh)
    assert not arr.read_signs_float().flags.writeable
    assert not overlap.get_helper().busy
    _train(syn, steps=1)                      # the next update streams normally


def test_no_stream_where_the_array_cannot_take_one(small_blocks):
    tiled = _layer(tile=(24, 40))
    assert not tiled.array.can_stream()
    with pytest.raises(ValueError, match="apply_signed_pulses"):
        tiled.array.pulse_stream(row_blocks(ROWS, COLS), make_rule("threshold").compiled(ROWS * COLS, None), 64.0)
    syn = _layer()
    chip = syn.array.tiles[0][2]
    en = chip.model.endurance
    floor = int(np.floor(en.median * np.exp(-_TRUNCATE * en.sigma)))
    chip.write_events[5] = floor - 10          # one device near its end of life
    chip._events_bound = None
    assert not syn.array.can_stream()
    one_call = _layer()
    one_call.array.tiles[0][2].write_events[5] = floor - 10
    one_call.array.tiles[0][2]._events_bound = None
    _train(syn)                                # takes the one-call update, as the other does
    _train(one_call, streamed=False)
    _same_chip(one_call, syn)


def test_nonzero_range_finds_each_blocks_nonzero_counts():
    rng = np.random.default_rng(4)
    k = np.where(rng.random(1003) < 0.05, rng.integers(-3, 4, 1003), 0).astype(np.int8)
    words = k[:1000].view(np.uint64)
    edges = [0, 5, 13, 64, 333, 334, 800, 1003]
    out = np.empty(1003 + 8, np.int64)
    for lo, hi in zip(edges[:-1], edges[1:]):
        c = kernels.nonzero_int8_range(k, words, lo, hi, out)
        assert out[:c].tolist() == (lo + np.flatnonzero(k[lo:hi])).tolist()
    assert kernels.nonzero_int8(k, words).tolist() == np.flatnonzero(k).tolist()


def test_blocked_adam_is_the_whole_layer_formula():
    rng = np.random.default_rng(0)
    shape = (300, 700)                           # several row blocks of 2^16
    assert len(row_blocks(*shape)) > 2
    opt = Adam([shape])
    m = np.zeros(shape, np.float32)
    v = np.zeros(shape, np.float32)
    for t in range(1, 4):
        g = rng.standard_normal(shape).astype(np.float32)
        opt.begin_step()
        d = opt.step(0, g, 0.01)
        m *= 0.9
        m += (1 - 0.9) * g
        v *= 0.999
        v += (1 - 0.999) * (g * g)
        lr_t = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        ref = np.sqrt(v)
        ref += 1e-8
        np.divide(m, ref, out=ref)
        ref *= np.float32(-lr_t)
        assert np.array_equal(d, ref)


def test_row_blocks_cover_the_rows_once():
    for rows, cols in [(784, 500), (784, 1000), (1, 10), (500, 10), (7, 100000)]:
        e = row_blocks(rows, cols)
        assert e[0] == 0 and e[-1] == rows and all(a < b for a, b in zip(e[:-1], e[1:]))


def test_the_helper_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "0")
    assert not overlap.helper_enabled() and overlap.get_helper() is None
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "1")
    assert overlap.helper_enabled() == (len(__import__("os").sched_getaffinity(0)) >= 2)


def test_training_streams_and_learns_the_same(small_blocks, monkeypatch):
    """A whole training with its large layer streamed equals the one-call training."""
    from labbench.bnn.spec import TrainSpec

    rng = np.random.default_rng(0)
    centres = rng.choice([-0.6, 0.6], (4, 48))
    y = rng.integers(0, 4, 600)
    x = np.clip(centres[y] + 0.7 * rng.standard_normal((600, 48)), -1, 1).astype(np.float32)
    spec = TrainSpec(sizes=(48, 40, 4), epochs=2, batch=50, lr=0.01, seed=2, refresh="threshold",
                     refresh_check_every=3)
    hist = {}
    for name, min_size in (("one_call", 10 ** 12), ("streamed", 0)):
        monkeypatch.setattr(DeviceSynapses, "stream_min", min_size)
        t = Trainer(spec, progress=False, plots=False)
        hist[name] = (t.fit(x[:400], y[:400], x[400:], y[400:]), t)
    (h1, t1), (h2, t2) = hist["one_call"], hist["streamed"]
    assert [h["test_acc"] for h in h1] == [h["test_acc"] for h in h2]
    assert [h["train_loss"] for h in h1] == [h["train_loss"] for h in h2]
    assert np.array_equal(t1.arrays[0].tiles[0][2].g, t2.arrays[0].tiles[0][2].g)
    assert h2[-1]["test_acc"] > 0.8


@pytest.mark.parametrize("helper", ["1", "0"])
def test_a_whole_array_read_with_the_helper_is_the_one_call_read(helper, monkeypatch):
    """A refresh check's read (every device: noise, disturb, Σ|I|) split into chunks read by
    two threads gives the one-call read's currents, chip and energy bit for bit."""
    monkeypatch.setattr(overlap, "_READ_CHUNK", 512)
    model = load_device_model()
    a, b = SimArray(model, 96, 64, seed=3), SimArray(model, 96, 64, seed=3)
    for arr in (a, b):
        arr.apply_signed_pulses(np.random.default_rng(0).integers(-2, 3, (96, 64)).astype(np.int8))
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "0")
    one = [a.read_conductances() for _ in range(3)]
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", helper)
    split = [b.read_conductances() for _ in range(3)]
    ca, cb = a.tiles[0][2], b.tiles[0][2]
    assert all(np.array_equal(x, y) for x, y in zip(one, split))
    assert np.array_equal(ca.g, cb.g) and np.array_equal(ca.read_events, cb.read_events)
    assert ca.read_energy == cb.read_energy > 0


def test_a_pending_stream_ends_when_the_next_layer_fails(small_blocks, monkeypatch):
    """The trainer leaves a streamed layer's last blocks to finish beside the next layer's
    update; Ctrl-C there still ends the stream: every block pulsed, signs consistent."""
    import contextlib

    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "1")
    syn = _layer()
    _train(syn, steps=2)
    arr = syn.array
    opt = Adam([(ROWS, COLS)])
    opt.begin_step()
    before = arr.counters.set_pulses
    with pytest.raises(KeyboardInterrupt):
        with contextlib.ExitStack() as pending:
            syn.step(opt, 0, np.full((ROWS, COLS), 0.5, np.float32), 0.05, np.random.default_rng(0), None, pending)
            raise KeyboardInterrupt              # in the next layer's update
    assert arr.counters.set_pulses - before >= ROWS * COLS     # every synapse got its pulses
    fresh = np.where(arr._sense(arr._diff()) >= 0, np.float32(1), np.float32(-1))
    assert np.array_equal(arr.read_signs_float(), fresh)
    assert not overlap.get_helper().busy


def test_ctrl_c_while_waiting_books_exactly_the_blocks_pulsed(small_blocks, monkeypatch):
    """Interrupted while the training thread waits for the helper: blocks claimed finish,
    blocks never claimed stay untouched, and the counters book exactly what was pulsed."""
    monkeypatch.setenv("LABBENCH_PULSE_HELPER", "1")
    syn = _layer()
    arr, chip = syn.array, syn.array.tiles[0][2]
    g_before, before = chip.g.copy(), arr.counters.set_pulses
    stream = arr.pulse_stream(row_blocks(ROWS, COLS), make_rule("deterministic").compiled(ROWS * COLS, None), 64.0)
    monkeypatch.setattr(ps, "_work", lambda *job: 0)          # this thread takes no block itself

    def interrupted(*a):
        time.sleep(0.01)                                     # the helper may take a few meanwhile
        raise KeyboardInterrupt

    monkeypatch.setattr(ps, "wait_for", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with stream:
            stream.dw[:] = 1.0 / 64                          # one pulse on every G+
            stream.post(len(stream.blocks))
    moved = (chip.g.reshape(-1, 2) != g_before.reshape(-1, 2)).any(axis=1)
    n = arr.counters.set_pulses - before                     # one pulse a synapse
    assert n in {int(e) for e in stream.edges}               # whole blocks, from the first
    assert not moved[n:].any()                               # the rest untouched
    assert moved[:n].mean() > 0.99                           # (a device at a bound may not move)
    fresh = np.where(arr._sense(arr._diff()) >= 0, np.float32(1), np.float32(-1))
    assert np.array_equal(arr.read_signs_float(), fresh)
    assert not overlap.get_helper().busy
