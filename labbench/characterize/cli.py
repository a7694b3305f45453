"""``labbench characterize BENCH [--plan FILE]``: a campaign from a chip to a device model."""
from __future__ import annotations

import click

from labbench.cli_options import db_option, device_model_option, live_options, out_option, resolve_db


@click.command("characterize")
@click.argument("bench_path", metavar="BENCH")
@click.option("--plan", "plan_path", default=None, type=click.Path(dir_okay=False),
              help="campaign plan (YAML); default: the shipped plan (`--show-plan` prints it)")
@device_model_option(help="base model: its read transistor de-embeds the reads, and it supplies the blocks the "
                          "campaign does not measure, marked as inherited (default: the default chip)")
@db_option()
@out_option()
@click.option("--name", default=None, help="the fitted model's name (default: the plan's name)")
@click.option("--fresh", is_flag=True, help="start the plan again in a folder that holds another campaign")
@click.option("--no-fit", is_flag=True, help="measure only; fit later by running the command again")
@click.option("--show-plan", is_flag=True, help="print the plan's steps, then exit (nothing is sent)")
@click.option("--quiet", is_flag=True, help="no progress bars")
@live_options()
def characterize(bench_path, plan_path, device_model, db, out, name, fresh, no_fit, show_plan, quiet):
    """Run a characterization campaign on BENCH (a shipped name or a bench file), then fit it.

    Each step of the plan is a run in the dataset; every step is checked against the bench's
    limits before the first one sends anything.  Interrupted (Ctrl-C, SIGTERM, a failed step),
    it keeps every finished step: the same command resumes at the next.  The end is one
    device model (OUT/device_model.yaml) whose every block is fitted from a named run or
    inherited from the base model and said so, with OUT/report.md and the fit figures.
    """
    from pathlib import Path

    from labbench import paths
    from labbench.folderlock import FolderLock

    from .campaign import run_campaign, save_state
    from .fit import fit_campaign, write_report
    from .plan import load_plan

    bench_file = paths.resolve_bench(bench_path)
    plan = load_plan(plan_path)
    if show_plan:
        for i, s in enumerate(plan.steps, 1):
            click.echo(f"{i}. {s.name}: {s.procedure} " + " ".join(f"{k}={v}" for k, v in s.params.items()))
        click.echo(f"fit: {plan.fit.model} ({plan.fit.method})")
        return
    out_dir = paths.ensure_writable_dir(paths.output_dir(out))
    db_path = resolve_db(db, str(out_dir))
    from labbench.live.session import from_cli

    with FolderLock(out_dir, "characterization"), from_cli() as live:
        result = run_campaign(plan, bench_file, Path(out_dir), Path(db_path), fresh=fresh, progress=not quiet,
                              echo=click.echo, live=live)
        steps = result.state["steps"]
        click.echo(f"measured: {len(result.ran)} step(s) run, {len(result.skipped)} kept from before; "
                   f"{sum(s.get('rows', 0) for s in steps.values())} rows in {db_path}")
        if no_fit:
            return
        from labbench.physics.device_model import load_device_model

        fit = fit_campaign(result, load_device_model(device_model), name=name or plan.name,
                           model=plan.fit.model, method=plan.fit.method)
        written = write_report(fit, result, Path(out_dir))
        result.state["status"] = "fitted"
        result.state["model"] = str(written[0])
        save_state(result)
    inherited = [k for k, v in (fit.device_model.provenance or {}).items() if "not measured" in v and "." not in k]
    click.echo(f"fitted: {fit.pulse.kind} update model" + (", retention (Arrhenius)" if fit.retention is not None
                                                           and "activation_energy" in fit.retention.params else
                                                           ", retention" if fit.retention is not None else ""))
    if inherited:
        click.echo(f"inherited (not measured): {', '.join(sorted(inherited))}; see report.md for how to measure them")
    for p in written:
        click.echo(f"wrote {p}")
