"""``faceeval run``, ``faceeval train`` and ``faceeval methods``."""
from __future__ import annotations

import time

import click

from ..datasets import dataset_names
from ..errors import DataError, MetricInputError, MissingDependencyError, MissingWeightsError, OptionError, with_data_root
from ..methods import available_methods, check_method_options, load_method, method_class
from ..metrics import NORMALISATIONS, evaluate
from ..runs import INITIALISERS, RunKey, run_method
from ..stats import summary_intervals
from .common import (BOX_FRACTION, DATA_ROOT, FRACTION, POSITIVE_INT, RESULTS, RegisteredChoice, format_summary_table,
                     init_options, load_dataset_reporting_gaps, parse_options, parse_weights, reporting_data_warnings,
                     sleeping_openmp_waits)
from .uncertainty import bootstrap_from, ci_options


@click.command("run", short_help="Run a method on a dataset subset: predict, store, score.")
@click.argument("method")
@click.option("--dataset", type=RegisteredChoice(dataset_names, "dataset"), default="300w", show_default=True,
              help="A registered dataset (installed packages add theirs).")
@click.option("--subset", default=None, help="300w: train, common, challenging, full, private; wflw: test, train, "
              "largepose, expression, illumination, makeup, occlusion, blur; cofw: test, train; aflw: full, frontal, "
              "train; menpo, menpo-profile: train, test, all; builtin: all. Default: full / test / full / test / all.")
@DATA_ROOT
@click.option("--weights", default=None, metavar="[METHOD=]PATH",
              help="Weights file or folder of the method (as in compare, METHOD=PATH also works).")
@click.option("--boxes", "boxes_json", type=click.Path(dir_okay=False), default=None, metavar="FILE.json",
              help="--dataset folder: initial boxes {id: [x_min, y_min, x_max, y_max]} (0-based pixels; id = the "
                   ".pts path under --data-root without suffix). Default: the tight ground-truth boxes.")
@click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Method option, repeatable (e.g. -O stages=1 for DAN's first stage only, "
                   "-O precision=fp32; ERT: -O box_style=dlib when the boxes already come from dlib's detector). "
                   "`faceeval methods` lists each method's options and their values.")
@click.option("--init", "init", type=click.Choice(sorted(INITIALISERS)), default="boxes", show_default=True,
              help="Initialisation (boxes = the dataset's detector boxes; gt-box = tight ground-truth boxes; "
                   "two-step = no box, see --box-fraction).")
@BOX_FRACTION
@RESULTS
@click.option("--batch-size", type=POSITIVE_INT, default=None, help="Images per predict call (method's default).")
@click.option("--alpha", type=FRACTION, default=None,
              help="AUC/failure threshold of every normalisation, a fraction of the normalising distance "
                   "(0.08 = 8%; default: each its own: the dataset's for its normalisation, 0.08 on 300W, 0.10 on "
                   "WFLW and COFW; 0.08 inter-ocular and inter-pupil, 0.03 box diagonal, 0.07 box size otherwise).")
@click.option("--force", is_flag=True, help="Recompute even if cached predictions exist.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--overlay", is_flag=True,
              help="Also draw up to 8 faces (spread over the error range) with the predicted points, the ground truth "
                   "and the initial boxes: RUN_DIR/overlay.png (+ .pdf).")
@ci_options
def run_command(method, dataset, subset, data_root, weights, boxes_json, options, init, box_fraction, results, batch_size,
                alpha, force, no_progress, overlay, ci, ci_resamples, ci_seed, ci_level):
    """Run METHOD on a dataset subset, store its predictions and print the scores.

    Predictions go to RESULTS/METHOD/WEIGHTS_HASH@vVERSION[,OPTIONS]/DATASET/SUBSET[@INIT]/
    as one .pts per face plus predictions.npz and meta.json, written atomically. Faces that
    stored runs of the same model on other subsets already hold are taken from them (a full
    run after a challenging one predicts the 554 others). Work is saved every few seconds, so
    a killed run resumes where it stopped; a finished one is reused unless --force. Every
    option is checked before any work starts.

    The summary scores each normalisation at its own alpha (on 300W: 0.08 inter-ocular and
    inter-pupil, 0.03 box diagonal, 0.07 box size) and prints the paper's value beside each
    number that has a published counterpart (same method, images, normalisation and alpha).

    \b
    Examples:
      faceeval run dan --dataset builtin --overlay
      faceeval run meanshape --dataset builtin
      faceeval run dan --subset challenging --data-root DATA/300w
      faceeval run dan --dataset menpo --init two-step --data-root DATA/menpo
      faceeval run dan -O stages=1 --subset private --data-root DATA/300w
      faceeval run ert --dataset folder --data-root DATA/faces --boxes DATA/faces/boxes.json
      faceeval run mymethod98 --dataset wflw --subset largepose --data-root DATA/wflw
    """
    sleeping_openmp_waits()                            # before the method imports torch
    init_opts = init_options(init, box_fraction)
    weights = parse_weights([weights], [method])[method] if weights else None
    if boxes_json is not None and dataset != "folder":
        raise click.BadParameter(f"applies to --dataset folder only ({dataset} brings its own boxes)",
                                 param_hint="--boxes")
    # an unknown method or -O option fails here, before the data is read
    method_options = check_method_options(method_class(method), parse_options(options))
    ds = load_dataset_reporting_gaps(dataset, subset, data_root,
                                     **({"boxes_json": boxes_json} if boxes_json is not None else {}))
    try:
        with reporting_data_warnings():               # a method option falling back: one warning line
            model = load_method(method, weights, **method_options)
    except MissingWeightsError as exc:         # its hint names the data given here
        raise MissingWeightsError(with_data_root(str(exc), data_root)) from exc
    startup = seconds_since_start()
    run = run_method(model, ds, results, init=init, force=force, batch_size=batch_size, progress=not no_progress,
                     init_options=init_opts, report=lambda line: click.echo(line, err=True))
    partial = run.partial_label
    faces = f"{len(ds)} faces" + (f", PARTIAL: {run.expected} expected" if partial else "")
    click.echo(f"{model.name} on {ds.name}/{ds.subset} ({faces}, init {run_key_init(run)}) "
               f"{'reused from' if run.reused else 'saved to'} {run.path}")
    if overlay:
        from ..report.figures import results_figure

        figure = results_figure(run, {s.id: s for s in ds.samples}, run.path / "overlay", k=8, norm="inter-ocular",
                                label=model.name, truth=True, crop=True)
        click.echo(f"overlay: {figure.png}")
    scoring_start = time.perf_counter()
    if run.ground_truth is None:
        click.echo("no ground truth: nothing to score")
        return
    alphas = scored_alphas(ds, alpha)
    scored = [evaluate(run.predictions, run.ground_truth, norm, a, ids=run.ids, scheme=ds.scheme,
                       box_size=ds.box_sizes) for norm, a in alphas.items()]
    bootstrap = bootstrap_from(ci, ci_resamples, ci_seed, ci_level)
    intervals = ([summary_intervals(errors, s.alpha, bootstrap=bootstrap) for s, errors in scored]
                 if bootstrap else None)
    published, paper = paper_values(type(model).published_names(model.options()), ds.name, ds.subset,
                                    [s for s, _ in scored]) if init == "boxes" else (None, "")
    click.echo(format_summary_table([summary for summary, _ in scored], intervals, published, paper))
    if not run.reused:
        click.echo(time_split(run.meta, startup, time.perf_counter() - scoring_start))
    if run.meta.get("caveat"):
        click.echo(f"note: {run.meta['caveat']}")
    if partial:
        click.echo(f"{partial} faces of {ds.name}/{ds.subset}: these scores are partial, "
                   f"not comparable with published ones")


def paper_values(names, dataset: str, subset: str, summaries) -> tuple[list[dict] | None, str]:
    """Per summary, statistic -> the published value (percent) of a method in ``names`` on the same
    images, normalisation and alpha, and a line naming where they are printed ((None, "") if none)."""
    from ..report.published import published_value

    found, sources = [], {}
    for s in summaries:
        values = {}
        for key in ("mean_error", "auc", "failure_rate"):
            got = published_value(names, dataset, subset, s.norm, key, s.alpha)
            if got is not None:
                values[key] = got.value
                sources.setdefault(got.method, set()).add(got.table)
        found.append(values)
    if not sources:
        return None, ""
    where = "; ".join(f"{method}, Table{'s' if len(t) > 1 else ''} {', '.join(map(str, sorted(t)))}"
                      for method, t in sources.items())
    return found, f"{where} of the DAN paper (Kowalski et al., CVPR-W 2017; faceeval/data/published_results.csv)"


def seconds_since_start() -> float | None:
    """Seconds since this process started (Linux ``/proc``), None where that cannot be read."""
    import os

    try:
        start_ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def time_split(meta: dict, startup: float | None, scoring: float) -> str:
    """Where a run's wall time went: start-up (process start to the first image: imports, the dataset's
    listing, the weights), reading and decoding images, the method (split into its own parts where it
    times them, e.g. DAN's crop and model), scoring.

    >>> time_split({"load_seconds": 1.5, "predict_seconds": 10.0, "crop_seconds": 1.0, "model_seconds": 9.0},
    ...            2.0, 0.5)
    'time: start-up 2.0 s, decoding 1.5 s, crop 1.0 s, model 9.0 s, scoring 0.5 s (total 14.0 s; model 64%)'
    """
    parts = {"start-up": startup, "decoding": meta.get("load_seconds")}
    own = {k.removesuffix("_seconds"): v for k, v in meta.items()
           if k.endswith("_seconds") and k not in ("load_seconds", "predict_seconds")}
    parts.update(own or {"predict": meta.get("predict_seconds")})
    parts["scoring"] = scoring
    known = {k: v for k, v in parts.items() if v is not None}
    total = sum(known.values())
    text = ", ".join(f"{k} {v:.1f} s" for k, v in known.items())
    share = f"; model {known['model'] / total:.0%}" if "model" in known and total > 0 else ""
    return f"time: {text} (total {total:.1f} s{share})"


def scored_alphas(ds, alpha: float | None) -> dict[str, float]:
    """The normalisations a run's scores are printed in, each with its alpha: on 68 points those of the
    tables, on other schemes the dataset's protocol first, then the other conventions it reports. The
    dataset's own normalisation takes its protocol's alpha, every other its normaliser's own (0.08 for the
    eye distances, 0.03 box diagonal, 0.07 box size); ``alpha``, where given, is every row's."""
    from ..datasets import get_spec
    from ..protocol import normaliser

    spec = get_spec(ds.name)
    norms = (list(NORMALISATIONS) if ds.scheme == "ibug68"
             else [spec.norm] + [n for n in spec.other_norms if n != spec.norm])
    return {n: alpha if alpha is not None else spec.default_alpha if n == spec.norm else normaliser(n).alpha
            for n in norms}


def run_key_init(run) -> str:
    """``boxes`` or e.g. ``two-step,fraction=0.46``: the initialisation part of a run's key."""
    return RunKey.from_meta(run.meta).init_tag


@click.command("train", short_help="Train a method (`faceeval train METHOD -h`: its options).", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                          "help_option_names": []})
@click.argument("method", required=False)
@click.pass_context
def train_command(ctx, method):
    """Train METHOD (e.g. `faceeval train dan --help` for its options).

    \b
    Example:
      faceeval train dan --data-root DATA/300w --stages 2
    """
    if method is None or method in ("-h", "--help"):
        trainable = [n for n in sorted(available_methods()) if _trainable(n)]
        click.echo(ctx.get_help())
        click.echo(f"\nTrainable methods: {', '.join(trainable) or 'none installed'}")
        return
    cmd = method_class(method).train_command()
    if cmd is None:
        raise OptionError(f"method {method!r} has nothing to train")
    # -h as everywhere else, whatever the method's own command declares
    cmd.main(args=ctx.args, prog_name=f"faceeval train {method}", standalone_mode=True,
             help_option_names=["-h", "--help"])


def _trainable(name: str) -> bool:
    try:
        return method_class(name).train_command() is not None
    except Exception:  # noqa: BLE001 - a plugin whose optional dependency is missing is just not listed
        return False


@click.command("methods", short_help="List the registered methods and their -O options.")
def methods_command():
    """List the registered methods (entry-point group faceeval.methods) and their -O options.

    \b
    Example:
      faceeval methods
    """
    for name, ep in sorted(available_methods().items()):
        try:
            cls = method_class(name)
            click.echo(f"{name:12s} v{cls.version:6s} {cls.description}")
            caveat = cls.default_caveat()
            if caveat:
                click.echo(f"{'':20s} note: {caveat}")
        except (ImportError, MissingDependencyError) as exc:
            click.echo(f"{name:12s} (unavailable: {exc})")
            continue
        for key, spec in sorted((cls.cli_options or {}).items()):
            click.echo(f"{'':20s} -O {key}={spec.describe()}" + (f"  ({spec.help})" if spec.help else ""))


__all__ = ["run_command", "train_command", "methods_command", "DataError", "MetricInputError",
           "MissingWeightsError"]
