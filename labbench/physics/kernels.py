"""Compiled per-device loops: the chip's hot paths, one pass per call.

Why compiled (numba, from wheels, no compiler step): a training update pulses ~10⁴
scattered devices per layer per batch.  In NumPy each of a pulse's dozen steps (gather,
hash, normal, exp, noise, clip, energy, scatter) is a pass with its own temporaries and
call overhead: ~300 ns a device.  One loop does it in ~50 ns, most of it waiting for the
device's cache lines (issue 11).

One physics, two paths: every caller that applies a nominal pulse, reads a current or
draws a counter-based normal, the simulated instruments and ``SimArray`` alike, goes
through these functions, so the two paths stay bit-identical.  The loops are plain
IEEE arithmetic: no ``fastmath`` (it would let LLVM reassociate and contract), and no
Intel SVML (vectorized ``log``/``exp`` may round differently from the scalar remainder
of the same loop, so a device's numbers would depend on its position in the call).
"""
from __future__ import annotations

import os

# before numba is imported (a no-op where another module imported it first; the
# tests check that one device alone gets the numbers it gets among many)
os.environ.setdefault("NUMBA_DISABLE_INTEL_SVML", "1")


import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# cached on disk in the user's cache folder (labbench/__init__.py); numpy's
# error model: a division by zero gives inf, as in NumPy, with no per-division check
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@intrinsic
def prefetch(typingctx, arr, i):
    """Ask for ``arr[i]``'s cache line ahead of its use (LLVM's prefetch: read, keep)."""
    sig = types.void(arr, i)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_KDEV = np.uint64(0x9E3779B1)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)


@njit(**_JIT)
def splitmix64(z):
    """SplitMix64 finalizer (Steele et al. 2014): a bijective, well-mixed hash of uint64."""
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _ziggurat_tables(layers: int = 256):
    """Marsaglia & Tsang's ziggurat for the half-normal f(x) = exp(−x²/2) (J. Stat. Softw.
    5(8), 2000): ``layers`` strips of equal area V; strip i spans x in [0, X[i]] and f from
    F[i] to F[i + 1]; strip 0 is the base, of width V/f(R), and carries the tail beyond R."""
    r, v = 3.6541528853610088, 0.00492867323399
    x = np.zeros(layers + 1)
    x[0], x[1] = v / np.exp(-0.5 * r * r), r
    for i in range(1, layers - 1):
        x[i + 1] = np.sqrt(-2.0 * np.log(v / x[i] + np.exp(-0.5 * x[i] * x[i])))
    return x, np.exp(-0.5 * x * x), r


_ZX, _ZF, _ZR = _ziggurat_tables()
_M8, _S8, _ONE = np.uint64(255), np.uint64(8), np.uint64(1)
_INV53 = 1.0 / 9007199254740992.0
# fresh bits for the slow path, hashed from the draw's own (a pure function of the key)
_K_TAIL, _K_WEDGE, _K_RETRY = (np.uint64(0x5851F42D4C957F2D), np.uint64(0x14057B7EF767814F),
                               np.uint64(0xD1B54A32D192ED03))


@njit(**_JIT)
def key_hash(base, device, counter):
    """The 64 hash bits of (stream base, device, event counter): SplitMix64 of the key,
    mixed with the stream."""
    return splitmix64(splitmix64(device * _KDEV + counter) ^ base)


@njit(**_JIT)
def _ziggurat_slow(h):
    """A draw outside its strip's inner rectangle (about 1.5 %): the tail beyond R
    (Marsaglia 1964) or the wedge under the curve, with fresh bits hashed from ``h``,
    repeated until accepted."""
    while True:
        i = np.int64(h & _M8)
        neg = (h >> _S8) & _ONE
        x = float(h >> _S11) * _INV53 * _ZX[i]
        if x < _ZX[i + 1]:
            return -x if neg else x
        if i == 0:
            h1 = splitmix64(h ^ _K_TAIL)
            while True:
                h2 = splitmix64(h1)
                a = -np.log((float(h1 >> _S11) + 0.5) * _INV53) / _ZR
                b = -np.log((float(h2 >> _S11) + 0.5) * _INV53)
                if b + b > a * a:
                    return -(_ZR + a) if neg else _ZR + a
                h1 = splitmix64(h2)
        hw = splitmix64(h ^ _K_WEDGE)
        y = _ZF[i] + float(hw >> _S11) * _INV53 * (_ZF[i + 1] - _ZF[i])
        if y < np.exp(-0.5 * x * x):
            return -x if neg else x
        h = splitmix64(h ^ _K_RETRY)


@njit(**_JIT)
def normal_from_hash(h):
    """The ziggurat's standard normal of 64 hash bits: bits 0–7 choose the strip, bit 8 the
    sign, the top 53 the position (disjoint bits: no correlation between strip and value)."""
    i = np.int64(h & _M8)
    x = float(h >> _S11) * _INV53 * _ZX[i]
    if x < _ZX[i + 1]:
        return -x if (h >> _S8) & _ONE else x
    return _ziggurat_slow(h)


@njit(**_JIT)
def normal_at(base, device, counter):
    """The standard normal of (stream base, device, event counter), float64.

    Why the ziggurat: 98.5 % of draws are a table lookup, a multiply and a compare (an
    inverse-CDF method needs a rational polynomial and, in the tails, a log); it is
    exact, not an approximation of the normal."""
    return normal_from_hash(key_hash(base, device, counter))


_CHUNK = 256   # a chunk's keys, hashes and normals stay in L1


@njit(**_JIT)
def _chunk_normals(base, dev, ctr, m, z, hs, slow):
    """z[:m] = the normals of keys (dev[j], ctr[j]), j < m: the hashes, then every draw's
    fast path (branch-free: both loops vectorize), then the ~1.5 % slow ones from a
    compacted list.  The numbers of :func:`normal_at`, bit for bit (the same functions on
    the same values).  ``hs`` (uint64) and ``slow`` (int64): the caller's scratch, at least
    m long (allocating them per chunk cost a tenth of a whole-array read)."""
    for j in range(m):
        hs[j] = key_hash(base, np.uint64(dev[j]), np.uint64(ctr[j]))
    k = 0
    for j in range(m):
        h = hs[j]
        i = np.int64(h & _M8)
        x = float(h >> _S11) * _INV53 * _ZX[i]
        z[j] = (1.0 - 2.0 * float((h >> _S8) & _ONE)) * x
        slow[k] = j
        k += x >= _ZX[i + 1]
    for t in range(k):
        j = slow[t]
        z[j] = _ziggurat_slow(hs[j])


@njit(**_JIT)
def normals(base, device, counter, out):
    """out[i] = normal_at(base, device[i], counter[i]), rounded to out's dtype."""
    n = out.size
    dev = np.empty(_CHUNK, np.uint64)
    ctr = np.empty(_CHUNK, np.uint64)
    z = np.empty(_CHUNK)
    hs = np.empty(_CHUNK, np.uint64)
    slow = np.empty(_CHUNK, np.int64)
    for lo in range(0, n, _CHUNK):
        m = min(_CHUNK, n - lo)
        for j in range(m):
            dev[j] = device[lo + j]
            ctr[j] = counter[lo + j]
        _chunk_normals(base, dev, ctr, m, z, hs, slow)
        for j in range(m):
            out[lo + j] = z[j]


# -- the 1T1R circuit (physics.circuit, the same formulas) ---------------------------------
#: indices into the float64 ``circuit`` argument of the pulse and read loops
C_V, C_VOV, C_K, C_RS, C_RESET, C_GATED, C_IV = range(7)


def circuit_args(sw, voltage: float, gate, reset: bool, iv_ratio: float = 1.0) -> np.ndarray:
    """The compiled loops' description of one bias: [|V|, V_ov, k, R_s, reset, gated, I-V
    ratio] (the I-V ratio scales the linear solve for a sinh device I-V)."""
    gated = gate is not None
    vov = max(float(gate) - sw.v_gate_threshold, 0.0) if gated else 0.0
    return np.array([abs(float(voltage)), vov, sw.transistor_k, sw.on_resistance, float(reset), float(gated),
                     iv_ratio])


@njit(**_JIT)
def cell_current(g, c):
    """|I| (A) through a cell of device conductance ``g`` biased as ``c`` (:func:`circuit_args`):
    :func:`labbench.physics.circuit.cell_current`, in float64, one device."""
    v = c[C_V]
    gp = g / (1.0 + g * c[C_RS])
    if c[C_GATED] == 0.0:
        return gp * v * c[C_IV]
    vov = c[C_VOV]
    if vov <= 0.0:
        return 0.0
    k = c[C_K]
    s = 2.0 * k * vov + gp
    if c[C_RESET] == 0.0:
        i_sat = k * vov * vov
        if gp * (v - vov) >= i_sat:
            return min(i_sat, gp * v) * c[C_IV]
        x = 2.0 * v * gp / (s + np.sqrt(max(s * s - 4.0 * k * v * gp, 0.0)))
        return gp * (v - x) * c[C_IV]
    q = k * v * (2.0 * vov - v) if v < vov else k * vov * vov
    y = 2.0 * q / (s + np.sqrt(max(s * s - 4.0 * k * q, 0.0)))
    return gp * y * c[C_IV]


@njit(**_JIT)
def cell_currents(gs, m, c, out):
    """out[j] = :func:`cell_current` (float(gs[j]), c) for j < m, bit for bit: the bias's
    branches hoisted out of the loop and the one that depends on the device (saturated or
    not) a select, so the loop vectorizes (divisions and square roots are exact in either
    form).  The pulse loop's energy sums are four of these per pulse: scalar, they cost
    more than the pulse itself."""
    v = c[C_V]
    rs = c[C_RS]
    iv = c[C_IV]
    if c[C_GATED] == 0.0:
        for j in range(m):
            g = float(gs[j])
            out[j] = g / (1.0 + g * rs) * v * iv
        return
    vov = c[C_VOV]
    if vov <= 0.0:
        for j in range(m):
            out[j] = 0.0
        return
    k = c[C_K]
    a = 2.0 * k * vov            # the operations of cell_current, in its order
    if c[C_RESET] == 0.0:
        i_sat = k * vov * vov
        vd = v - vov
        v2 = 2.0 * v
        kv4 = 4.0 * k * v
        for j in range(m):
            g = float(gs[j])
            gp = g / (1.0 + g * rs)
            s = a + gp
            x = v2 * gp / (s + np.sqrt(max(s * s - kv4 * gp, 0.0)))
            sat = min(i_sat, gp * v)
            lin = gp * (v - x)
            out[j] = (sat if gp * vd >= i_sat else lin) * iv
        return
    q = k * v * (2.0 * vov - v) if v < vov else k * vov * vov
    q2 = 2.0 * q
    kq4 = 4.0 * k * q
    for j in range(m):
        g = float(gs[j])
        gp = g / (1.0 + g * rs)
        s = a + gp
        out[j] = gp * (q2 / (s + np.sqrt(max(s * s - kq4, 0.0)))) * iv


#: indices into :func:`cell_currents_like_numpy`'s constants
N_RS, N_V, N_2KVOV, N_ISAT, N_4KV, N_2V, N_VMVOV, N_C, N_4K, N_RATIO = range(10)


@njit(**_JIT)
def cell_currents_like_numpy(g, c, mode, out):
    """out = :func:`labbench.physics.energy.cell_current` of ``g`` (the NumPy form, in g's own
    precision: float32 on SimArray), bit for bit, in one pass instead of a dozen: the same
    operations on the same operands in the same order.  ``c``: the bias's constants in g's
    dtype (:func:`labbench.physics.energy.numpy_order_constants`); ``mode`` 0 no
    transistor, 1 SET, 2 RESET, 3 gate off.  (The whole-array Σ I of a sense read is
    recounted with it after every refresh: in NumPy that cost a refresh's own time again.)"""
    zero = g.dtype.type(0)
    one = g.dtype.type(1)
    two = g.dtype.type(2)
    rs = c[N_RS]
    v = c[N_V]
    ratio = c[N_RATIO]
    for i in range(g.size):
        gi = g[i]
        gp = gi / (one + gi * rs) if rs != zero else gi
        if mode == 0:
            cur = gp * v
        elif mode == 3:
            cur = zero
        elif mode == 1:
            s = c[N_2KVOV] + gp
            disc = max(s * s - c[N_4KV] * gp, zero)
            x = c[N_2V] * gp / (s + np.sqrt(disc))
            lin = gp * (v - x)
            cur = min(c[N_ISAT], gp * v) if gp * c[N_VMVOV] >= c[N_ISAT] else lin
        else:
            s = c[N_2KVOV] + gp
            y = two * c[N_C] / (s + np.sqrt(max(s * s - c[N_4K] * c[N_C], zero)))
            cur = gp * y
        out[i] = cur * ratio


# -- NeuroSim nominal pulses ------------------------------------------------------------
@njit(**_JIT)
def neurosim_pulse(g, up, gmin, gmax, a, b, c2c_abs, c2c_rel, clip, xi, one):
    """One nominal pulse on a device at ``g``, with standard normal ``xi``: the closed form
    of :class:`~labbench.physics.models.NeuroSimModel` (from distance d to its direction's
    start, one pulse gives B − (B − d)·e^(−1/A), at most the span), then the noise (additive
    ``c2c_abs`` of the range, and ``c2c_rel`` of the mean step), shrunk near a bound so it
    never crosses it (:func:`labbench.physics.models.toward`); or, with ``clip``
    (``noise_at_bound: clip``), the full noise added to the step not held at the span, then
    clipped to the bounds (:meth:`~labbench.physics.models.UpdateModel.pulse_once`).
    Every operand is in g's dtype (float32 on SimArray; ``one`` is 1 in it)."""
    span = gmax - gmin
    decay = np.exp(-one / a)
    # a pulse never moves a device against its direction, and a device below Gmin (a deep
    # HRS) continues the curve from where it is (models.toward)
    if up:
        t = b - (b - (g - gmin)) * decay
        if not clip:
            t = min(t, span)
        g_mean = max(gmin + t, g)
    else:
        t = b - (b - (gmax - g)) * decay
        if not clip:
            t = min(t, span)
        g_mean = min(gmax - t, g)
    lo = min(gmin, g)
    hi = max(gmax, g)
    sigma = c2c_abs * span
    if c2c_rel:
        step = c2c_rel * (g_mean - g)
        sigma = np.sqrt(sigma * sigma + step * step)
    if clip:   # aihwkit's and NeuroSim's rule: the full, untruncated noise, then the clip
        return min(max(xi * sigma + g_mean, lo), hi)
    # unbiased near a bound: σ shrinks to a third of the distance, ξ truncated at ±3
    three = one + one + one   # in g's dtype (3 * one would promote float32 to float64)
    room = min(g_mean - lo, hi - g_mean) / three
    sigma = min(sigma, room)
    z = min(max(xi, -three), three)
    return min(max(z * sigma + g_mean, lo), hi)


@njit(**_JIT)
def _rows(params, idx):
    """The parameter rows (Gmin, Gmax, A, B) of devices ``idx``: ``params`` holds one row per
    device (packed, so one cache line serves all four), or one row they all share.  A tight
    gather loop, so the CPU keeps many cache misses in flight (a pulse loop that loads as it
    goes waits for each in turn)."""
    out = np.empty((idx.size, 4), params.dtype)
    if params.shape[0] > 1:
        for j in range(idx.size):
            i = idx[j]
            for c in range(4):
                out[j, c] = params[i, c]
    else:
        for j in range(idx.size):
            for c in range(4):
                out[j, c] = params[0, c]
    return out


@njit(**_JIT)
def neurosim_pulse_once(g, idx, xi, up, params, c2c_abs, c2c_rel, clip, out):
    """One pulse each on devices ``idx`` at states ``g`` with normals ``xi`` (the Chip's
    per-pulse path: electrical pulses that turned out nominal); no state changes."""
    one = g.dtype.type(1)
    p = _rows(params, idx)
    for j in range(idx.size):
        out[j] = neurosim_pulse(g[j], up, p[j, 0], p[j, 1], p[j, 2], p[j, 3], c2c_abs, c2c_rel, clip, xi[j], one)


_NO_FLOOR = np.iinfo(np.int64).max


@njit(**_JIT)
def neurosim_burst(g, events, formed, stuck, all_live, idx, n, up, params, c2c_abs, c2c_rel, clip,  # noqa: C901 - a compiled kernel: splitting it adds calls to the per-pulse loop
                   base, wear_floor, pulse_bias, read_bias, energy):
    """``n[j]`` nominal pulses on device ``idx[j]``, in place on the chip's ``g`` and
    ``events``: each pulse draws its own normal (keyed by the device's write counter) and is
    clipped before the next, so a burst equals its single pulses.  Devices not formed or
    stuck are skipped (``all_live``: the caller knows there are none, so neither array is
    read).  In chunks of 256 devices: gather (the devices are scattered over arrays far
    larger than the cache; a tight loop keeps many misses in flight), the chunk's first
    normals (vectorized), the pulses, scatter; the scratch stays in L1.

    Energy (``pulse_bias`` not empty): ``energy[0] += Σ I(g0) + I(g1)`` per pulse with I the
    1T1R cell's current at the nominal pulse's bias (:func:`cell_current`; the caller
    multiplies by V·t/2), ``energy[1] += Σ ΔI`` at the read bias (``read_bias`` not empty).
    Returns the pulses applied, or −1 (nothing changed) when a device would reach
    ``wear_floor`` write events (``_NO_FLOOR``: the caller knows none can): the caller then
    takes the wear path.
    """
    m = idx.size
    if wear_floor < _NO_FLOOR:   # check every device before changing any
        for j in range(m):
            i = idx[j]
            if n[j] > 0 and (all_live or (formed[i] and stuck[i] == 0)) \
                    and np.int64(events[i]) + n[j] >= wear_floor:
                return -1
    one = g.dtype.type(1)
    ids = np.empty(_CHUNK, np.int64)
    gg = np.empty(_CHUNK, g.dtype)
    g0 = np.empty(_CHUNK, g.dtype)
    ev = np.empty(_CHUNK, np.int64)
    ctr = np.empty(_CHUNK, np.uint64)
    live = np.empty(_CHUNK, np.bool_)
    p = np.empty((_CHUNK, 4), params.dtype)
    first = np.empty(_CHUNK)
    hs = np.empty(_CHUNK, np.uint64)
    slow = np.empty(_CHUNK, np.int64)
    i0, i1, r0, r1 = np.empty(_CHUNK), np.empty(_CHUNK), np.empty(_CHUNK), np.empty(_CHUNK)
    shared = params.shape[0] == 1
    pflat = params.reshape(params.size)
    total = 0
    e_pulse = 0.0
    e_delta = 0.0
    charge = pulse_bias.size > 0
    track = read_bias.size > 0
    for lo in range(0, m, _CHUNK):
        c = min(_CHUNK, m - lo)
        for j in range(c):
            i = idx[lo + j]
            ids[j] = i
            gg[j] = g[i]
            ev[j] = events[i]
            live[j] = n[lo + j] > 0
            if not shared:
                prefetch(pflat, 4 * i)
        # the next chunk's devices, while this one computes
        for j in range(lo + _CHUNK, min(lo + 2 * _CHUNK, m)):
            prefetch(g, idx[j])
            prefetch(events, idx[j])
        if not all_live:
            for j in range(c):
                i = ids[j]
                live[j] = live[j] and formed[i] and stuck[i] == 0
        if shared:
            for j in range(c):
                for q in range(4):
                    p[j, q] = params[0, q]
        else:
            for j in range(c):
                i = ids[j]
                p[j, 0] = params[i, 0]
                p[j, 1] = params[i, 1]
                p[j, 2] = params[i, 2]
                p[j, 3] = params[i, 3]
        for j in range(c):
            ctr[j] = ev[j] + 1
            g0[j] = gg[j]
        # every device's first pulse draws its normal here, vectorized; a burst's further
        # pulses (rare in training) one at a time: the same numbers either way
        _chunk_normals(base, ids, ctr, c, first, hs, slow)
        for j in range(c):
            if not live[j]:
                continue
            i = np.uint64(ids[j])
            gi = gg[j]
            e = ev[j]
            last = n[lo + j] - 1
            for q in range(n[lo + j]):
                e += 1
                xi = g.dtype.type(first[j] if q == 0 else normal_at(base, i, np.uint64(e)))
                gi = neurosim_pulse(gi, up, p[j, 0], p[j, 1], p[j, 2], p[j, 3], c2c_abs, c2c_rel, clip, xi, one)
                if q < last and charge:   # an intermediate state ends one pulse, starts the next
                    e_pulse += 2.0 * cell_current(float(gi), pulse_bias)
            gg[j] = gi
            ev[j] = e
            total += n[lo + j]
        if charge:
            # every pulse costs (I(before) + I(after))·V·t/2: the ends here, the currents
            # computed for the whole chunk (vectorized), then summed in device order
            cell_currents(g0, c, pulse_bias, i0)
            cell_currents(gg, c, pulse_bias, i1)
            if track:
                cell_currents(g0, c, read_bias, r0)
                cell_currents(gg, c, read_bias, r1)
            for j in range(c):
                if live[j]:
                    e_pulse += i0[j] + i1[j]
                    if track:
                        e_delta += r1[j] - r0[j]
        for j in range(c):
            if live[j]:
                i = ids[j]
                g[i] = gg[j]
                events[i] = ev[j]
    energy[0] += e_pulse
    energy[1] += e_delta
    return total


def _byte_tables():
    """For each 8-bit mask: its set bits' positions (padded) and how many there are."""
    pos = np.zeros((256, 8), np.int64)
    cnt = np.zeros(256, np.int64)
    for mask in range(256):
        bits = [b for b in range(8) if mask >> b & 1]
        pos[mask, :len(bits)] = bits
        cnt[mask] = len(bits)
    return pos, cnt


_POS, _CNT = _byte_tables()
_LOW_BITS = np.uint64(0x0101010101010101)
_GATHER_BITS = np.uint64(0x0102040810204080)
_S1, _S2, _S4, _S56 = np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(56)


@njit(**_JIT)
def nonzero_int8(k, words):
    """The indices where int8 ``k`` is not 0, ascending (``words``: k's whole 8-byte words as
    uint64): :func:`nonzero_int8_range` over all of k.  (``np.flatnonzero`` takes a bool
    pass and a scan of its own.)"""
    out = np.empty(k.size + 8, np.int64)   # untouched pages cost nothing
    c = nonzero_int8_range(k, words, 0, k.size, out)
    return out[:c].copy()


@njit(**_JIT)
def nonzero_int8_range(k, words, lo, hi, out):
    """The positions in [lo, hi) where int8 ``k`` is not 0, ascending, into ``out`` (at least
    hi − lo + 8 long); their count.  A training update leaves a few % nonzero: a zero word
    is skipped in one compare, a nonzero one turned into its byte mask and written from a
    table, with no per-byte branch; the range's first and last words are masked to it."""
    c = 0
    full = words.size
    for w in range(lo >> 3, min((hi + 7) >> 3, full)):
        x = words[w]
        if x != 0:
            t = x | (x >> _S4)
            t |= t >> _S2
            t |= t >> _S1
            mask = ((t & _LOW_BITS) * _GATHER_BITS) >> _S56   # bit b: byte b is nonzero
            base = 8 * w
            if base < lo or base + 8 > hi:
                first = max(lo - base, 0)
                last = min(hi - base, 8)
                mask &= np.uint64(((1 << last) - 1) & ~((1 << first) - 1))
            for b in range(8):
                out[c + b] = base + _POS[mask, b]
            c += _CNT[mask]
    for s in range(max(lo, 8 * full), hi):
        if k[s] != 0:
            out[c] = s
            c += 1
    return c


@njit(**_JIT)
def signed_pair_pulses(k, syn, g, events, formed, stuck, all_live, up, params, c2c_abs, c2c_rel, clip,
                       base, wear_floor, pulse_bias, read_bias, energy):
    """2T2R updates from signed counts ``k`` (one per synapse, flat) at the synapses ``syn``
    (those with k != 0): k > 0 pulses the + device (2s) k times, k < 0 the − device
    (2s + 1) |k| times.  Returns (G+ − G− of each synapse afterwards: the two devices of a
    pair share a cache line, so the re-sense costs nothing here; the pulses sent), the pulses
    being −1 as in :func:`neurosim_burst` (then nothing changed)."""
    count = syn.size
    idx = np.empty(count, np.int64)
    n = np.empty(count, np.int64)
    sent = 0
    for j in range(count):
        ks = np.int64(k[syn[j]])
        idx[j] = 2 * syn[j] + (1 if ks < 0 else 0)
        n[j] = ks if ks > 0 else -ks
        sent += n[j]
    diff = np.empty(count, g.dtype)
    if neurosim_burst(g, events, formed, stuck, all_live, idx, n, up, params, c2c_abs, c2c_rel, clip,
                      base, wear_floor, pulse_bias, read_bias, energy) < 0:
        return diff, -1
    for j in range(count):
        diff[j] = g[2 * syn[j]] - g[2 * syn[j] + 1]
    return diff, sent


# -- reads --------------------------------------------------------------------------------
@njit(**_JIT)
def read_currents(g, events, idx, first, bias, sign, noise_rel, base, out, formed, stuck, all_live,
                  gmin, gmax, disturb, toward_max, sum_abs, abs_sum):
    """out[j] = I of device ``idx[j]`` biased as ``bias`` (:func:`cell_current`: through the
    access transistor and the lines; ``sign`` ±1 its direction), times (1 + noise_rel·ξ) with
    ξ keyed by each device's read counter (advanced) when ``noise_rel`` > 0.  ``idx`` empty:
    devices ``first``, ``first`` + 1, … (a range of a whole-array read, with no index array
    to build).

    With ``disturb`` > 0 each live device then takes the read's disturb (as
    :func:`read_disturb`), and with ``sum_abs`` ``abs_sum[0]`` gathers Σ|I| for the read
    energy: one call for a whole-array read (a refresh check) instead of three, in chunks
    whose simple loops vectorize."""
    every = idx.size == 0
    m = out.size
    one = g.dtype.type(1)
    ids = np.empty(_CHUNK, np.int64)
    ctr = np.empty(_CHUNK, np.uint64)
    gg = np.empty(_CHUNK, g.dtype)
    z = np.zeros(_CHUNK)
    hs = np.empty(_CHUNK, np.uint64)
    slow = np.empty(_CHUNK, np.int64)
    cur64 = np.empty(_CHUNK)
    total = 0.0
    for lo in range(0, m, _CHUNK):
        c = min(_CHUNK, m - lo)
        if every:
            for j in range(c):
                ids[j] = first + lo + j
        else:
            for j in range(c):
                ids[j] = idx[lo + j]
        for j in range(c):
            gg[j] = g[ids[j]]
        if noise_rel > 0:
            for j in range(c):
                i = ids[j]
                ev = events[i] + 1
                events[i] = ev
                ctr[j] = ev
            _chunk_normals(base, ids, ctr, c, z, hs, slow)
        cell_currents(gg, c, bias, cur64)
        for j in range(c):
            cur = g.dtype.type(sign * cur64[j])
            out[lo + j] = cur * (one + noise_rel * g.dtype.type(z[j])) if noise_rel > 0 else cur
        if sum_abs:
            for j in range(c):
                total += abs(float(out[lo + j]))
        if disturb > 0:
            for j in range(c):
                i = ids[j]
                if all_live or (formed[i] and stuck[i] == 0):
                    g[i] = _disturbed(gg[j], gmin[i], gmax[i], disturb, toward_max)
    abs_sum[0] += total


@njit(**_JIT)
def _disturbed(g, gmin, gmax, f, toward_max):
    """G after one read: a fraction ``f`` of the way towards Gmax (positive read) or Gmin."""
    return g + f * (gmax - g) if toward_max else g - f * (g - gmin)


@njit(**_JIT)
def read_disturb(g, formed, stuck, idx, gmin, gmax, f, toward_max):
    """One read's disturb on the live devices ``idx`` (empty: all); ``gmin``/``gmax`` per
    device (the chip's views: a stride-0 broadcast where the bound is shared)."""
    every = idx.size == 0
    m = g.size if every else idx.size
    for j in range(m):
        i = j if every else idx[j]
        if formed[i] and stuck[i] == 0:
            g[i] = _disturbed(g[i], gmin[i], gmax[i], f, toward_max)
