"""The pyarc2 twin's behaviour: conventions, the queue, the output buffer, errors."""
import numpy as np
import pytest

from labbench.paths import resolve_device_model
from labbench.physics.chip import Chip
from labbench.physics.device_model import load_device_model
from labbench.sim import arc2 as pa
from labbench.sim.world import SimWorld

SL, BL0, BLB0 = 0, 16, 48


@pytest.fixture
def arc():
    """A 4×4 (2T2R) chip: SL on channel 0, BL c on 16+c, BLB c on 48+c, gates on selectors."""
    model = load_device_model(resolve_device_model("hfox_2t2r_default"))
    world = SimWorld(Chip(model, 4, 4, seed=1, formed=True), None)
    lines = {("SL", 0): ("channel", SL)}
    lines.update({("BL", c): ("channel", BL0 + c) for c in range(4)})
    lines.update({("BLB", c): ("channel", BLB0 + c) for c in range(4)})
    lines.update({("WL", r): ("selector", r) for r in range(4)})
    board = pa.Arc2Board(world, lines, board_id=3)
    pa.plug(board)
    try:
        yield pa.Instrument(3, "fw.bin")
    finally:
        pa.unplug(board)


def gates(arc, row, gate=1.8, low=-0.1):
    return arc.config_aux_channels([(pa.AuxDACFn.SELL, low), (pa.AuxDACFn.SELH, gate + low)]).config_selectors([row])


def test_find_ids_lists_attached_boards(arc):
    assert 3 in pa.find_ids()


def test_queued_calls_chain_and_run_only_on_execute(arc):
    board, chip = arc._board, arc._board.world.chip
    g0, t0 = chip.g.copy(), board.world.clock.now()
    out = gates(arc, 0, 1.2, -0.75).pulse_one(SL, BL0, 1.5, 1000).pulse_slice(SL, 1.5, 1000).delay(10_000)
    assert out is arc
    assert np.array_equal(chip.g, g0) and board.world.clock.now() == t0 and not board.programs
    arc.execute()
    assert not np.array_equal(chip.g, g0) and board.world.clock.now() > t0
    assert [c.name for c in board.programs[-1]] == ["config_aux_channels", "config_selectors", "pulse_one",
                                                     "pulse_slice", "delay"]


def test_an_immediate_read_runs_what_was_queued_first(arc):
    gates(arc, 1)
    i = arc.read_one(SL, BL0 + 2, 0.1)
    assert isinstance(i, float) and i > 0           # low at -vread, current read from the high channel
    assert [c.name for c in arc._board.programs[-1]] == ["config_aux_channels", "config_selectors", "read_one"]


def test_selectors_gate_the_row(arc):
    arc.config_aux_channels([(pa.AuxDACFn.SELL, -0.1), (pa.AuxDACFn.SELH, 1.7)]).config_selectors([])
    assert arc.read_one(SL, BL0, 0.1) == 0.0        # every gate low: no current
    gates(arc, 2)
    assert arc.read_one(SL, BL0, 0.1) > 0


def test_slice_read_layout_and_types(arc):
    gates(arc, 0)
    row = arc.read_slice(SL, 0.1)                   # a bit-group channel: the 32 word channels
    assert row.dtype == np.float32 and row.shape == (32,)
    words = list(pa.ALL_WORDS)
    assert row[words.index(BL0)] > 0 and row[words.index(BLB0 + 3)] > 0
    assert row[words.index(BL0 + 5)] == 0           # a channel with no line: nothing flows
    masked = arc.read_slice_masked(SL, [BL0, BL0 + 1], 0.1)
    assert np.isnan(masked[words.index(BLB0)]) and masked[words.index(BL0 + 1)] > 0
    everything = arc.read_all(0.1, pa.BiasOrder.Cols)
    assert everything.shape == (32, 32) and everything.dtype == np.float32


def test_read_slice_equals_the_row_read_cell_by_cell(arc):
    """A slice read biases the whole row at once: each device gets the one read it would
    get from a read of its own bit line with the others floating."""
    board = arc._board
    chip = board.world.chip
    twin = Chip(chip.model, chip.rows, chip.cols, seed=chip.seed)
    twin.load_state_dict(chip.state_dict())
    gates(arc, 1, 1.75, -0.125)
    row = arc.read_slice(SL, 0.125)
    words = list(pa.ALL_WORDS)
    twin.advance_to(chip.time)
    for c in range(4):
        for side, ch in ((0, BL0 + c), (1, BLB0 + c)):
            i = float(twin.current(twin.flat(1, c, side), 0.125, None, gate=1.75, duration=pa.board.READ_BIAS)[0])
            assert row[words.index(ch)] == np.float32(i)
    a, b = chip.state_dict(), twin.state_dict()
    for k in a:
        assert np.allclose(a[k], b[k], rtol=1e-12) if k == "energy" else np.array_equal(a[k], b[k]), k


def test_output_buffer_drains_until_none(arc):
    gates(arc, 0)         # SELH 1.7 V: on for the reads at -0.1 V (and the pulses)
    arc.generate_ramp(SL, BL0, 1.0, 0.5, 2.0, 1000, 0, 2, pa.ReadAt.Arb(0.1), pa.ReadAfter.Pulse)
    assert arc.pick_one(pa.DataMode.All, pa.ReadType.Current) is None     # nothing before execute()
    arc.execute()
    first = arc.pick_one(pa.DataMode.All, pa.ReadType.Current)
    assert first.dtype == np.float32 and first.shape == (64,) and first[BL0] > 0 and np.isnan(first[1])
    rest = list(arc.get_iter(pa.DataMode.Words))
    assert len(rest) == 3 and all(len(x) == 1 and x[0].shape == (32,) for x in rest)   # pyarc2 yields [array]
    assert arc.pick_one(pa.DataMode.Bits, pa.ReadType.Current) is None
    arc.generate_read_train(None, [BL0], 0.1, 5, 0, True).execute()
    assert len(list(arc.get_iter(pa.DataMode.All))) == 5


def test_ramp_steps_and_bad_ramp(arc):
    gates(arc, 0, 1.2, -1.0)
    arc.generate_ramp(SL, BL0, 1.0, 0.25, 2.0, 1000, 0, 1, pa.ReadAt.Bias, pa.ReadAfter.Block).execute()
    assert len(list(arc.get_iter(pa.DataMode.All))) == 4     # [start, stop): 1.0, 1.25, 1.5, 1.75
    with pytest.raises(pa.ArC2Error, match="Ramp operation error"):
        arc.generate_ramp(SL, BL0, 2.0, 0.25, 1.0, 1000, 0, 1, pa.ReadAt.Bias, pa.ReadAfter.Pulse)


def test_finalise_operation_floats_or_grounds_and_returns_none(arc):
    board = arc._board
    arc.config_channels([(BL0, 0.5)], 0.0).execute()
    assert board.channel_level(BL0) == 0.5 and board.channel_level(5) == 0.0
    assert arc.finalise_operation(pa.IdleMode.Float) is None
    assert all(v is None for v in board.idle_state().values())
    arc.finalise_operation(pa.IdleMode.HardGnd)
    assert all(v == 0.0 for v in board.idle_state().values())


def test_output_range_saturates_like_the_dac(arc):
    board = arc._board
    arc.config_channels([(BL0, 15.0)], None).execute()
    assert board.channel_level(BL0) == 10.0                  # STD: the DAC code saturates at ±10 V
    arc.set_channel_range([BL0], pa.OutputRange.EXT).config_channels([(BL0, 15.0)], None).execute()
    assert board.channel_level(BL0) == 15.0


@pytest.mark.parametrize("call, err, match", [
    (lambda a: a.read_one(0, 64, 0.1), pa.PanicException, "index out of bounds"),
    (lambda a: a.pulse_one(64, 0, 1.0, 10), pa.PanicException, "index out of bounds"),
    (lambda a: a.pulse_slice_masked(0, 1.0, 10, [70]), pa.PanicException, "index out of bounds"),
    (lambda a: a.read_one(-1, 3, 0.1), OverflowError, "negative int to unsigned"),
    (lambda a: a.pulse_one(0, 1, 1.0, -5), OverflowError, "negative int"),
    (lambda a: a.pulse_one(0, 1, 1.0, 1.5e3), TypeError, "'float' object cannot be interpreted as an integer"),
    (lambda a: a.pulse_one(0, 1, "1.0", 10), TypeError, "must be real number, not str"),
    (lambda a: a.read_slice_masked(0, [[1, 2]], 0.1), TypeError, "Invalid argument dimensions"),
    (lambda a: a.connect_to_gnd(5), TypeError, "must be an iterable"),
    (lambda a: a.read_all(0.1, "rows"), TypeError, "cannot be converted to 'BiasOrder'"),
    (lambda a: a.vread_channels([0], 1), TypeError, "cannot be converted to 'PyBool'"),
    (lambda a: a.config_selectors([40]), pa.ArC2Error, "selector 40"),
    (lambda a: a.pulse_slice_fast_open([(0, 1.0, 0.0), (1, 0.0, 1.0)], [100] + [None] * 7, True), pa.ArC2Error,
     "polarity"),
    (lambda a: a.pulse_slice_fast_open([(0, 1.0, 0.0)], [600_000_000] + [None] * 7, True), pa.ArC2Error,
     "too long"),
    (lambda a: a.pulse_slice_fast_open([(9, 1.0, 0.0)], [100] + [None] * 7, True), pa.ArC2Error,
     "no timing associated on cluster 1"),
    (lambda a: a.pulse_slice_fast_open([(0, 1.0, 0.0)], [100] * 7, True), ValueError, "Need 8"),
    (lambda a: a.pulse_all(vpulse=1.0, nanos=10, order=pa.BiasOrder.Rows), TypeError, "unexpected keyword"),
    (lambda a: a.pick_one(pa.DataMode.All), TypeError, "rtype"),
    (lambda a: a.finalise_operation(pa.IdleMode.Float).wait(), AttributeError, "NoneType"),
])
def test_errors_raised_at_the_call_before_anything_runs(arc, call, err, match):
    board = arc._board
    before = (len(board.programs), board.world.clock.now(), board.world.chip.g.copy())
    if match == "NoneType":   # finalise_operation itself runs (it executes): only its chaining fails
        with pytest.raises(err, match=match):
            call(arc)
        return
    with pytest.raises(err, match=match):
        call(arc)
    assert not arc._fifo and len(board.programs) == before[0] and board.world.clock.now() == before[1]
    assert np.array_equal(board.world.chip.g, before[2])


def test_mixed_transitions_in_one_cluster_are_fine_across_clusters(arc):
    arc.pulse_slice_fast_open([(0, 1.0, 0.0), (8, 0.0, 1.0)], [100, 100] + [None] * 6, True).execute()


def test_the_board_plugged_last_under_an_id_is_the_one_opened(arc):
    other = pa.Arc2Board(arc._board.world, {}, board_id=3)
    pa.plug(other)
    try:
        assert pa.Instrument(3, "fw.bin")._board is other and pa.find_ids().count(3) == 1
    finally:
        pa.unplug(other)
    assert pa.Instrument(3, "fw.bin")._board is arc._board
