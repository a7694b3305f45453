"""Strict on-chip training: zero-state optimizers, the strict preset's rules, and the
bytes of digital state every run reports."""
import numpy as np
import pytest

from labbench.bnn.optimizers import OPTIMIZERS, ZERO_STATE, make_optimizer
from labbench.bnn.precision import STRICT
from labbench.bnn.spec import preset_spec
from labbench.bnn.trainer import Trainer

from test_bnn_trainer import toy

SHAPES = [(30, 20), (20, 5)]


@pytest.fixture(scope="module")
def data():
    return (*toy(3000, 0), *toy(1000, 1))


def strict(**kw):
    base = dict(sizes=(20, 64, 4), epochs=3, batch=50, lr=0.02, lr_end=0.002, refresh_level=0.7,
                refresh_check_every=5, seed=3)
    return preset_spec("strict", **{**base, **kw})


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_descends_and_states_what_it_keeps(name):
    rng = np.random.default_rng(0)
    opt = make_optimizer(name, SHAPES)
    g = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    opt.begin_step()
    d = [opt.step(i, gi.copy(), 0.01) for i, gi in enumerate(g)]
    for gi, di in zip(g, d):
        assert di.shape == gi.shape and di.dtype == np.float32
        assert float((gi * di).sum()) < 0          # a descent direction
        assert np.abs(di).max() <= 0.01 * 1e3      # bounded by lr (clipped or normalized)
    b = opt.state_bytes()
    if name in ZERO_STATE:
        assert b["per_synapse"] == 0
        assert b["other"] <= 4 * sum(r + c for r, c in SHAPES) + 8 * len(SHAPES)   # O(rows + cols)
    else:
        assert b["per_synapse"] == 8 * sum(r * c for r, c in SHAPES)               # Adam: m and v


def test_per_layer_sgd_equalizes_layers_whose_gradients_differ_40x():
    opt = make_optimizer("sgd", SHAPES)
    rng = np.random.default_rng(1)
    opt.begin_step()
    small = opt.step(0, 0.025 * rng.standard_normal(SHAPES[0]).astype(np.float32), 0.01)
    big = opt.step(1, rng.standard_normal(SHAPES[1]).astype(np.float32), 0.01)
    rms = [float(np.sqrt((x ** 2).mean())) for x in (small, big)]
    assert rms[0] == pytest.approx(0.01, rel=0.05) and rms[1] == pytest.approx(0.01, rel=0.05)


def test_sign_optimizer_writes_lr_or_nothing():
    opt = make_optimizer("sign", SHAPES, threshold=1.0)
    opt.begin_step()
    g = np.random.default_rng(2).standard_normal(SHAPES[0]).astype(np.float32)
    d = opt.step(0, g.copy(), 0.01)
    assert np.all((d == 0) | np.isclose(np.abs(d), 0.01))
    assert 0.6 < (d == 0).mean() < 0.76         # |g| < 1 RMS skipped: 68 % of a Gaussian


def test_unknown_optimizer_lists_the_known_ones():
    with pytest.raises(ValueError, match="adafactor.*adam.*sgd.*sign"):
        make_optimizer("lion", SHAPES)


def test_strict_run_learns_with_no_per_synapse_state(data):
    t = Trainer(strict(), progress=False, plots=False)
    hist = t.fit(*data)
    assert hist[-1]["test_acc"] > 0.85
    assert all(h["bytes_per_synapse"] == 0 for h in hist) and hist[-1]["precision"] == "strict"
    assert not t.opt.per_synapse and not any(s.rule.stateful for s in t.synapses)
    assert t.policy.name == "paper" and t.policy.state(t.arrays[0]) is None
    # the strict sense amplifier is real: reads disagree with the true signs sometimes
    assert t.arrays[0].sense_noise == pytest.approx(0.01) and t.model.binarize_input


def test_mixed_precision_counts_moments_residual_and_strikes(data):
    t = Trainer(preset_spec("mixed-precision", sizes=(20, 64, 4), epochs=1, batch=50, refresh_check_every=5),
                progress=False, plots=False)
    h = t.fit(*data)[-1]
    assert h["bytes_per_synapse"] == 8 + 4 + 2     # Adam m, v; accumulate residual; refresh strikes (int16)
    ideal = Trainer(preset_spec("strict", sizes=(20, 64, 4), epochs=1, batch=50, mode="ideal"),
                    progress=False, plots=False).fit(*data)[-1]
    assert ideal["bytes_per_synapse"] == 4          # the software latent weight itself


def test_refresh_accounting_counts_resets_rewrites_and_check_reads(data):
    t = Trainer(strict(epochs=1, lr=0.05, lr_end=0.05), progress=False, plots=False)
    h = t.fit(*data)[-1]
    pairs = 20 * 64 + 64 * 4
    checks = (3000 // 50) // 5
    assert h["refreshes"] > 0 and h["reset_ops"] == 2 * h["refreshes"]
    # every check reads both devices of every pair; each refresh reads its pair again
    assert h["refresh_reads"] == 2 * pairs * checks + 2 * h["refreshes"]
    assert h["refresh_set_pulses"] > 0


@pytest.mark.parametrize("name", ZERO_STATE)
def test_resume_with_a_zero_state_optimizer_equals_an_uninterrupted_run(name, data, tmp_path):
    straight = Trainer(strict(epochs=2, optimizer=name), out_dir=tmp_path / "a", progress=False, plots=False)
    straight.fit(*data)
    first = Trainer(strict(epochs=2, optimizer=name), out_dir=tmp_path / "b", progress=False, plots=False)
    first.fit(*data, epochs=1)
    resumed = Trainer(strict(epochs=2, optimizer=name), out_dir=tmp_path / "b", progress=False, plots=False)
    assert [h["test_acc"] for h in resumed.fit(*data)] == [h["test_acc"] for h in straight.history]
    for a, b in zip(straight.arrays, resumed.arrays):
        np.testing.assert_array_equal(a.conductances(), b.conductances())


@pytest.mark.parametrize("override, option", [
    ({"optimizer": "adam"}, "--optimizer adam"),
    ({"rule": "accumulate"}, "--rule accumulate"),
    ({"refresh": "threshold"}, "--refresh threshold"),
    ({"binarize_input": False}, "--no-binarize-input"),
    ({"sense_noise": 0.0}, "--sense-noise"),
])
def test_strict_refuses_an_option_that_breaks_it_by_name(override, option):
    with pytest.raises(ValueError, match=f"strict.*{option}"):
        strict(**override)


def test_strict_preset_is_what_the_docs_say():
    c = strict()
    assert (c.optimizer.name, c.rule.name, c.refresh.policy, c.network.binarize_input) == (
        STRICT["optimizer"], STRICT["rule"], "paper", True)
    assert not OPTIMIZERS[c.optimizer.name].per_synapse
    assert c.sense.offset == c.sense.noise == 0.01


@pytest.mark.parametrize("preset", ["strict", "mixed-precision"])
def test_train_cli_builds_exactly_the_preset(preset):
    """`labbench train --mode X` with no other option is preset_spec(X): every key of the
    preset reaches the run (the strict preset's rule_threshold was once dropped)."""
    from labbench.bnn import cli as train_cli

    ctx = train_cli.train.make_context("train", ["--mode", preset])
    p = ctx.params
    options = {k: p[k] for k in ("epochs", "batch", "lr", "lr_end", "optimizer", "optimizer_threshold", "rule",
                                 "rule_threshold", "refresh", "refresh_level", "refresh_every", "refresh_check_every",
                                 "refresh_verify", "sense_offset", "sense_noise", "binarize_input",
                                 "idle_between_epochs", "train_subset", "seed")}
    options.update(refresh_cap=p["refresh_cap"] or None, refresh_patience=p["refresh_patience"] or None)
    with ctx:
        spec = train_cli._spec_from_options(ctx, preset, options, sizes=(784, 500, 10))
    from labbench.bnn.precision import PRESETS

    # every key of the preset from the preset, every other one the CLI's default
    want = preset_spec(preset, sizes=(784, 500, 10), mode="device",
                       **{k: v for k, v in options.items() if k not in PRESETS[preset]})
    assert spec == want, {k: (v, want.flat()[k]) for k, v in spec.flat().items() if v != want.flat()[k]}
    assert spec.flat() == want.flat()
    if preset == "strict":
        assert spec.rule.threshold == STRICT["rule_threshold"] == 1.0
        assert {k: spec.flat()[k] for k in STRICT} == STRICT       # every preset key, exactly


def test_strict_refresh_through_program_verify_keeps_no_state_and_lands_on_target(data):
    """Issue 26: a verify loop keeps no persistent per-synapse state, so strict mode allows the
    paper refresh through program-verify; its re-writes cost verify reads, and it still keeps
    0 bytes per synapse."""
    open_loop = Trainer(strict(epochs=1, lr=0.05, lr_end=0.05), progress=False, plots=False)
    h0 = open_loop.fit(*data)[-1]
    t = Trainer(strict(epochs=1, lr=0.05, lr_end=0.05, refresh_program=0.05), progress=False, plots=False)
    h = t.fit(*data)[-1]
    assert t.policy.name == "paper" and t.policy.program is not None and t.policy.program.tolerance == 0.05
    assert h["bytes_per_synapse"] == 0 and t.policy.state(t.arrays[0]) is None
    assert h["refreshes"] > 0 and h["refresh_set_pulses"] > 0
    assert h["refresh_reads"] > h0["refresh_reads"] * h["refreshes"] / max(h0["refreshes"], 1)   # the verify reads
    assert h["test_acc"] > 0.8
