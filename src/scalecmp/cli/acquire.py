"""CLI command ``next``: which runs to buy next, so that a comparison is decided with the
least compute (:mod:`scalecmp.acquire`)."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from scalecmp.cli.common import (
    DEFAULT_FRONTIER_BINS,
    DEFAULT_X,
    DEFAULT_Y,
    AtOpt,
    BootOpt,
    BootstrapOpt,
    ByOpt,
    CorpusExcludeOpt,
    DataArg,
    ForceOpt,
    FrontierBinsOpt,
    FrontierOpt,
    HuberDeltaOpt,
    JsonOpt,
    LawOpt,
    LevelOpt,
    LossOpt,
    MaximizeOpt,
    MinSlopeOpt,
    PlotOpt,
    PoolingOpt,
    PresetOpt,
    QuietOpt,
    SamplesOpt,
    SeedOpt,
    WeightingOpt,
    WhereOpt,
    WorkersOpt,
    XOpt,
    YOpt,
    build_options,
    check_outputs,
    check_plot,
    resolve_columns,
    say,
)
from scalecmp.engine import FitOptions
from scalecmp.errors import DataError, ScalecmpWarning, UsageError
from scalecmp.format import fmt_num as _fmt
from scalecmp.format import group_label
from scalecmp.validate import parse_numbers

__all__ = ["ladder_name", "register", "spec_candidates", "spec_fragments"]

SPEC_SUFFIXES = (".yaml", ".yml")
_SHOWN = 20  # candidate rows printed (all of them in --json)


def spec_candidates(spec_path: Path, frame: Any, *, by: list[str], x: str, samples: str,
                    model: str | None) -> Any:
    """The cells of a grid spec (procedures x sizes x samples seen) not yet measured in
    ``frame``, as a candidate table: a procedure is a value of the one ``by`` column, its
    compute per sample that of the same procedure and size in ``frame``."""
    import numpy as np
    import pandas as pd

    from scalecmp.experiments.spec import load_spec

    spec = load_spec(spec_path)
    model = model or "model"
    if len(by) != 1:
        raise UsageError(f"candidates: a grid spec names procedures, one --by column; got "
                         f"--by {','.join(by)}")
    col = by[0]
    for c, param in ((col, "by"), (samples, "samples"), (model, "model"), (x, "x")):
        if c not in frame.columns:
            raise DataError(f"{param}: no column '{c}' (a spec's cells are found by "
                            f"{col}, {model} and {samples})")
    rows = frame[[col, model, samples, x]].dropna()
    per_sample = pd.to_numeric(rows[x], errors="coerce") / pd.to_numeric(rows[samples],
                                                                          errors="coerce")
    rows = rows.assign(_f=per_sample, _key=rows[col].astype(str), _m=rows[model].astype(str))
    measured = {(k, m, float(f"{d:.6g}")) for k, m, d in
                zip(rows["_key"], rows["_m"], rows[samples].astype(float), strict=True)}
    groups = set(rows["_key"])
    out = []
    for proc in spec.procedures:
        if proc not in groups:
            raise DataError(f"candidates: procedure '{proc}' of {spec_path} has no "
                            f"measurements in column '{col}' (values: "
                            f"{', '.join(sorted(groups)[:8])})")
        for size in spec.sizes:
            f = rows.loc[(rows["_key"] == proc) & (rows["_m"] == size), "_f"]
            if f.empty:
                raise DataError(
                    f"candidates: no measured GFLOPs per sample for {proc} size '{size}' of "
                    f"{spec_path} (a spec's compute comes from the measurements of its "
                    "sizes); give a candidates CSV with a compute column for new sizes")
            for d in spec.samples_seen:
                if (proc, size, float(f"{float(d):.6g}")) in measured:
                    continue
                value = rows.loc[rows["_key"] == proc, col].iloc[0]
                out.append({col: value, model: size, samples: float(d),
                            "compute": float(np.median(f)) * float(d), "source": "spec"})
    if not out:
        raise DataError(f"candidates: every cell of {spec_path} is measured already")
    return pd.DataFrame(out)


def ladder_name(label: str) -> str:
    """A default candidate's next size (``<largest>+1``) as the size ladder's next rung
    when the largest measured size is a rung of :data:`SIZE_LADDER` (``l+1`` -> ``xl``);
    any other label unchanged."""
    from scalecmp.experiments.registry import CPU_SIZES, SIZE_LADDER

    if not label.endswith("+1"):
        return label
    base = label[:-2]
    for ladder in (CPU_SIZES, tuple(n for n in SIZE_LADDER if n not in CPU_SIZES)):
        if base in ladder and ladder.index(base) + 1 < len(ladder):
            return ladder[ladder.index(base) + 1]
    return label


def spec_fragments(picks: list[dict], by: str, base: dict | None) -> list[tuple[str, dict]]:
    """One grid spec per training unit (procedure x size) of the batch, exactly its
    samples-seen targets: ``(file stem, mapping)``. With ``base`` (the candidates' spec, as
    loaded YAML) every other key is copied, so each is a complete spec for
    ``scalecmp grid run`` (``cosine_check`` off: the batch's runs only); without it each
    holds procedures, sizes and samples_seen only."""
    units: dict[tuple[str, str], list[int]] = {}
    for p in picks:
        key = (str(p["group"][by]), ladder_name(str(p["model"])))
        units.setdefault(key, []).append(int(round(p["samples"])))
    out = []
    for (proc, size), samples in units.items():
        doc = dict(base or {})
        name = f"next-{proc}-{size}".replace("/", "_").replace(" ", "_")
        if base is not None:
            doc["name"] = f"{base.get('name', 'grid')}-{name}"
        doc["procedures"] = [proc]
        doc["sizes"] = [size]
        doc["samples_seen"] = sorted(set(samples))
        if doc.get("cosine_check"):
            doc["cosine_check"] = False  # the batch's runs only, no extra cosine run
        out.append((name, doc))
    return out


def _check_spec_out(spec_out: Path | None, force: bool) -> None:
    """The fragments' folder, checked before any work: a directory (made if missing), no
    earlier ``next-*.yaml`` in it unless ``--force`` (which replaces them, and removes
    those of an earlier batch that this one does not write)."""
    if spec_out is None:
        return
    from scalecmp.files import check_output_dir

    check_output_dir(spec_out, name="spec_out")  # writable too, tried by a file there
    if spec_out.is_dir() and not force:
        old = sorted(spec_out.glob("next-*.yaml"))
        if old:
            raise UsageError(f"spec_out: {spec_out} holds {len(old)} earlier fragment(s) "
                             f"({old[0].name}, ...); pass `force` to replace them")


def next_cmd(
    data: DataArg,
    x: XOpt = DEFAULT_X,
    y: YOpt = DEFAULT_Y,
    by: ByOpt = None,
    where: WhereOpt = None,
    maximize: MaximizeOpt = False,
    law: LawOpt = FitOptions.law,
    preset: PresetOpt = None,
    frontier: FrontierOpt = None,
    frontier_bins: FrontierBinsOpt = DEFAULT_FRONTIER_BINS,
    loss: LossOpt = FitOptions.loss,
    huber_delta: HuberDeltaOpt = FitOptions.delta,
    min_slope_ratio: MinSlopeOpt = FitOptions.min_slope_ratio,
    pooling: PoolingOpt = FitOptions.pooling,
    corpus_exclude: CorpusExcludeOpt = None,
    workers: WorkersOpt = str(FitOptions.workers),
    weighting: WeightingOpt = FitOptions.weighting,
    bootstrap: BootstrapOpt = FitOptions.bootstrap,
    n_bootstrap: BootOpt = FitOptions.n_bootstrap,
    level: LevelOpt = FitOptions.level,
    seed: SeedOpt = FitOptions.random_state,
    at: AtOpt = None,
    candidates_path: Annotated[
        Path | None,
        typer.Option("--candidates", help="Candidate runs: a grid spec (.yaml: its cells "
                     "not yet measured; compute from the measured GFLOPs per sample of "
                     "each procedure x size) or a table (.csv, .parquet, .jsonl) with the "
                     "--by column(s), the --samples column and compute (GFLOPs). Default: "
                     "the next rungs of what each group measured."),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option("--budget", help="GFLOPs for the batch: greedy picks (among the runs "
                     "that last, with --lasts), each valued given the earlier ones. Default: "
                     "the best candidate alone."),
    ] = None,
    objective: Annotated[
        str,
        typer.Option("--objective", help="The uncertainty to reduce at --at: difference "
                     "(width of the band of y_a - y_b), multiplier (of the compute "
                     "multiplier, decades), dopt (of D_opt, decades), prediction (of each "
                     "group's curve)."),
    ] = "difference",
    samples: SamplesOpt = "samples_seen",
    model: Annotated[
        str | None, typer.Option("--model-col", help="Model-size column: the name of each "
                                 "rung (e.g. ViT-B-16). Default: model if the data have it, "
                                 "else sizes told apart by --x / --samples.",
                                 show_default=False)
    ] = None,
    n_draws: Annotated[
        int | None, typer.Option("--n-draws", help="Outcome draws per candidate (10 to "
                                 "--n-bootstrap). Default: 100, or --n-bootstrap when "
                                 "smaller.", show_default=False)
    ] = None,
    lasts: Annotated[
        float, typer.Option("--lasts", help="Rank and buy first the runs likely to stay on "
                            "their group's frontier once every candidate is measured: "
                            "P(final) >= this (0 to 1). 0: every run lasts (the plain "
                            "rule).")
    ] = 0.0,
    spec_out: Annotated[
        Path | None,
        typer.Option("--spec-out", help="Folder for the batch as grid specs, one per "
                     "procedure x size (next-<procedure>-<size>.yaml), for `scalecmp grid "
                     "run`; complete specs when --candidates is a spec."),
    ] = None,
    json_path: JsonOpt = None,
    plot: PlotOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Which runs to buy next: candidate runs ranked by the expected reduction of the
    uncertainty at --at per GFLOP (with --lasts, the runs likely to stay on their group's
    frontier once every candidate is measured first), and a greedy batch under --budget.

    Preposterior: each candidate's outcome is drawn from the fit's own replicates (with
    measurement noise and the gap of an off-optimal size x samples split); the update is an
    importance reweighting of the replicates (see scalecmp.acquire)."""
    from rich.console import Console
    from rich.table import Table

    from scalecmp.acquire import check_next_options, next_runs
    from scalecmp.experiments.shards import load_measurements
    from scalecmp.files import output_transaction

    # 1. every option, before anything is read or fitted
    if not by:
        raise UsageError("by: next needs the column(s) whose groups are compared")
    options = build_options(locals())
    at_values = parse_numbers(at, "at")
    _, _, n_draws = check_next_options(options, objective=objective, at=at_values,
                                       budget=budget, n_draws=n_draws, lasts=lasts)
    check_plot(plot)
    candidates = candidates_path  # not `candidates`: that is a FitOptions field
    if candidates is not None and not candidates.exists():
        raise DataError(f"candidates: file not found: {candidates}")
    # 2. every output
    outputs = check_outputs({"json": json_path, "plot": plot}, force=force, data=data)
    _check_spec_out(spec_out, force)
    # 3. the data and the candidates
    frame = load_measurements(data)
    by_cols = resolve_columns(by, frame.columns)
    base = None
    if candidates is None:
        cand = None
    elif candidates.suffix.lower() in SPEC_SUFFIXES:
        from scalecmp.experiments.spec import load_yaml

        cand = spec_candidates(candidates, frame, by=by_cols, x=x, samples=samples,
                               model=model)
        base = load_yaml(candidates.read_text(encoding="utf-8"))  # as load_spec read it
    else:
        from scalecmp.io import load_measurement_file

        cand = load_measurement_file(candidates)
    res = next_runs(frame, x=x, y=y, by=by_cols, maximize=maximize, at=at_values,
                    where=where, candidates=cand, budget=budget, objective=objective,
                    samples=samples, model=model, n_draws=n_draws, lasts=lasts,
                    options=options)
    console = Console(width=max(Console().width, 140), quiet=quiet)
    unit = "" if res.unit == "metric" else " decades"
    cur = res.current
    console.print(f"[bold]Now[/bold] ({objective} at {', '.join(_fmt(v) for v in res.at)}, "
                  f"{res.level:.0%}): width {_fmt(cur['width'])}{unit}", highlight=False)
    for v in cur["verdicts"]:
        better = group_label(v["better"], names="several") if v["better"] else "inconclusive"
        console.print(f"  {group_label(v['a'], names='several')} vs "
                      f"{group_label(v['b'], names='several')} at {_fmt(v['at'])}: "
                      f"P(a better) {v['p_a_better']:.3f}, {better}", highlight=False)
    order = (f"the runs with P(final) >= {res.lasts:g} first, " if res.lasts > 0 else "")
    t = Table(title=f"Candidates, {order}by expected gain per GFLOP ({res.n_draws} draws "
                    "each)")
    for col in ("#", "group", res.model, samples, x, "predicted", "P(frontier)",
                "P(final)", "width after", "gain / GFLOP", "P(verdict changes)"):
        t.add_column(col, justify="right")
    for c in res.candidates[:_SHOWN]:
        t.add_row(str(c["rank"]), group_label(c["group"], names="several"), c["model"],
                  _fmt(c["samples"]), _fmt(c["compute"]), _fmt(c["predicted"]),
                  f"{c['p_frontier']:.2f}", f"{c['p_final']:.2f}", _fmt(c["expected_width"]),
                  f"{c['gain_per_gflop']:.3g}", f"{c['p_verdict_change']:.2f}")
    if len(res.candidates) > _SHOWN:
        t.caption = f"... {len(res.candidates) - _SHOWN} more (all of them in --json)"
    console.print(t)
    bs = res.batch_summary
    if res.batch:
        title = (f"Batch under {_fmt(budget)} GFLOPs" if budget is not None
                 else "Batch: the best candidate (no --budget)")
        b = Table(title=title)
        for col in ("step", "group", res.model, samples, x, "width after batch",
                    "gain / GFLOP"):
            b.add_column(col, justify="right")
        for p in res.batch:
            b.add_row(str(p["step"]), group_label(p["group"], names="several"), p["model"],
                      _fmt(p["samples"]), _fmt(p["compute"]), _fmt(p["batch_width"]),
                      f"{p['batch_gain_per_gflop']:.3g}")
        console.print(b)
        rule = f" (greedy by {bs['rule']})" if budget is not None else ""
        console.print(f"[bold]Batch{rule}:[/bold] {bs['n_runs']} run(s), "
                      f"{_fmt(bs['compute'])} GFLOPs: expected width {_fmt(bs['width_now'])} -> "
                      f"{_fmt(bs['expected_width'])}{unit}; P(verdict changes) "
                      f"{bs['p_verdict_change']:.2f}", highlight=False)
    else:
        console.print("[bold]Batch:[/bold] no candidate is expected to narrow the "
                      f"{objective} at {', '.join(_fmt(v) for v in res.at)}", highlight=False)
    # every output (--json, --plot, the spec files of --spec-out), together or none
    specs = (_fragments(spec_out, res, by_cols, base, candidates, objective, budget, quiet)
             if spec_out is not None else [])

    def draw(tmp: Path) -> None:
        from scalecmp.plots.next import plot_next

        plot_next(res, tmp)

    with output_transaction(force=force) as out:
        if "json" in outputs:
            out.add_json(outputs["json"], res.to_dict(), name="json", shown=json_path)
        if "plot" in outputs:
            out.add(outputs["plot"], draw, name="plot", shown=plot)
        for path, text in specs:
            out.add_text(path, text, name="spec_out", shown=path)
    for key, shown in (("json", json_path), ("plot", plot)):
        if key in outputs:
            say(quiet, f"wrote {shown}")
    for path, _ in specs:
        say(quiet, f"wrote {path}")
    if spec_out is not None and force:  # an earlier batch's fragments would be trained too
        for path in _stale_fragments(spec_out, {p for p, _ in specs}):
            path.unlink()
            say(quiet, f"removed {path} (a fragment of an earlier batch, not in this one)")


#: the first line of every fragment ``next`` writes (how its own files are recognised)
_FRAGMENT_HEAD = "# scalecmp next: the batch"


def _stale_fragments(spec_out: Path, written: set[Path]) -> list[Path]:
    """``next-*.yaml`` regular files in ``spec_out`` that ``next`` wrote (their first line
    says so) and this batch did not: what ``--force`` clears, so that ``for f in
    DIR/next-*.yaml`` trains this batch only. Anything else there is left alone."""
    stale = []
    for path in sorted(spec_out.glob("next-*.yaml")) if spec_out.is_dir() else []:
        if path in written or path.is_symlink() or not path.is_file():
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                first = fh.readline()
        except (OSError, UnicodeDecodeError):
            continue
        if first.startswith(_FRAGMENT_HEAD):
            stale.append(path)
    return stale


def _fragments(spec_out: Path, res: Any, by_cols: list[str], base: dict | None,
               candidates: Path | None, objective: str, budget: float | None,
               quiet: bool) -> list[tuple[Path, str]]:
    """The batch as grid spec files under ``spec_out``: (path, text) of each."""
    import yaml

    if len(by_cols) != 1:
        raise UsageError("spec_out: grid specs name procedures, one --by column")
    frags = spec_fragments(list(res.batch), by_cols[0], base)
    runs = Counter((str(r["group"].get(by_cols[0])), r["model"], float(r["samples"]))
                   for r in res.batch)
    again = sorted(r for r, n in runs.items() if n > 1)
    if again:  # a candidate row given twice is a second measurement (another seed)
        g, m, d = again[0]
        warnings.warn(f"spec_out: the batch measures {g} {m} at {_fmt(d)} samples "
                      f"{runs[again[0]]} times (a candidate row given more than once: "
                      "repeated measurements); a grid spec lists a run once: train it "
                      "with as many seeds", ScalecmpWarning, stacklevel=2)
    if not frags:
        say(quiet, f"no run in the batch: nothing written to {spec_out}")
        return []
    spec_out.mkdir(parents=True, exist_ok=True)
    head = (f"{_FRAGMENT_HEAD} ({objective} at "
            f"{', '.join(_fmt(v) for v in res.at)}; budget "
            f"{_fmt(budget) if budget is not None else 'none: the best run'}), one training "
            "unit\n")
    head += ("# a complete spec (the other keys from " + str(candidates) + "):\n"
             if base is not None else
             "# a fragment: merge procedures, sizes and samples_seen into your grid spec\n"
             "# (data, eval, train, lr, ...) before `scalecmp grid run`\n")
    out = []
    for stem, doc in frags:
        path = spec_out / f"{stem}.yaml"
        out.append((path, head + f"#   scalecmp grid run {path} --out DIR\n"
                    + yaml.safe_dump(doc, sort_keys=False)))
    return out


def register(app: typer.Typer) -> None:
    """Add ``next`` to the ``scalecmp`` app."""
    app.command("next")(next_cmd)
