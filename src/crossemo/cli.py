"""Command-line interface: a thin typer layer, every verb one call of the Python API."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from crossemo.cli_output import (
    console,
    print_corpora,
    print_json,
    print_segment_summary,
    print_summary,
    printable,
    reader_options,
    shown,
    skip_line,
    split_list,
)
from crossemo.errors import CrossemoError


class _FlagsShownAsFlags:
    """Help lists a flag (``--json``, ``--force``, ``-h``) without a value type: it takes none."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params


class Command(_FlagsShownAsFlags, TyperCommand):
    pass


class PredictCommand(Command):
    """``predict``, whose ``--segment`` may stand alone (this typer cannot make an option's value optional)."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, with_bare_segment(args))


SEGMENT_MODE = re.compile(r"(vad|energy|window)(:[^:]*){0,2}", re.IGNORECASE)
"""What may follow ``--segment``: ``MODE[:LENGTH[:HOP]]`` (modes of :mod:`crossemo.segmentation`)."""


def with_bare_segment(args: list[str]) -> list[str]:
    """``args`` with a bare ``--segment`` (last, or before what is no mode) read as ``--segment vad``.

    >>> with_bare_segment(["model", "call.wav", "--segment"])
    ['model', 'call.wav', '--segment', 'vad']
    >>> with_bare_segment(["model", "--segment", "call.wav"]), with_bare_segment(["--segment", "window:3"])
    (['model', '--segment', 'vad', 'call.wav'], ['--segment', 'window:3'])
    """
    result: list[str] = []
    for position, arg in enumerate(args):
        result.append(arg)
        if arg == "--":
            return result + args[position + 1:]
        following = args[position + 1] if position + 1 < len(args) else None
        if arg == "--segment" and (following is None or not SEGMENT_MODE.fullmatch(following)):
            result.append("vad")
    return result


class Group(_FlagsShownAsFlags, TyperGroup):
    pass


app = typer.Typer(
    name="crossemo",
    help="Cross-lingual speech emotion recognition with latent representations.",
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
command = functools.partial(app.command, cls=Command)

ARROW_POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
"""Names Arrow's memory allocator; the command line defaults it to ``system`` (see :func:`main_options`)."""


def _version(value: bool) -> None:
    if value:
        from crossemo import __version__

        typer.echo(f"crossemo {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Cross-lingual speech emotion recognition with latent representations."""
    # Arrow's default pool (mimalloc) keeps freed pages; crossemo's tables are small, and on an
    # hour-long recording those pages were 4% of peak memory. Set before pyarrow is imported.
    os.environ.setdefault(ARROW_POOL_VARIABLE, "system")


def _friendly(command):
    """Print a CrossemoError as one line on stderr and exit 2, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CrossemoError as error:
            message = escape(printable(str(error)))
            console().print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            console().print("interrupted: finished work is kept; run the same command again to resume")
            raise typer.Exit(code=130) from None

    return wrapper


JobsOption = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores).")]
CacheOption = Annotated[Optional[Path], typer.Option("--cache-dir", help="Feature cache folder (default: the user's cache).")]
FEATURES_HELP = ("Feature set: egemaps (default), gemaps, compare, emobase, or hf:MODEL[@LAYER] for a "
                 "self-supervised model folder (LAYER: an index, last or mean).")
SchedulerOption = Annotated[
    Optional[str], typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: local processes).")
]
ReaderOption = Annotated[
    Optional[list[str]],
    typer.Option("--option", metavar="KEY=VALUE", help="An option of the corpus reader, e.g. table=emotion "
                 "(audformat) or split=train (hf); repeat it for several."),
]


@command()
@_friendly
def scan(
    corpus: Annotated[Optional[str], typer.Argument(help="Corpus reader name (see scan --list).")] = None,
    path: Annotated[Optional[Path], typer.Argument(help="Corpus folder (for manifest: the CSV file).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    list_corpora: Annotated[
        bool, typer.Option("--list", help="List every corpus crossemo reads, with its language and layout.")
    ] = False,
    option: ReaderOption = None,
) -> None:
    """List a corpus: files, labels and speakers, and what was skipped (or, with --list, the corpora)."""
    from crossemo.corpora import class_by_speaker, describe_corpora, read_corpus, summarize

    if list_corpora:
        if corpus is not None or path is not None:
            raise typer.BadParameter("scan --list takes no corpus or path")
        print_corpora(describe_corpora(), as_json=as_json)
        return
    if corpus is None or path is None:
        raise typer.BadParameter("scan needs a corpus name and its path (or --list to see the corpora)")
    table = read_corpus(corpus, path, **reader_options(option))
    summary = summarize(table)
    if as_json:
        print_json(summary)
        return
    counts = class_by_speaker(table)
    view = Table(title=f"{summary['corpus']} ({summary['language']}): {summary['files']} files, "
                       f"{summary['labelled']} labelled, {summary['speakers']} speakers")
    view.add_column("speaker")
    for column in counts.columns:
        view.add_column(str(column), justify="right")
    for speaker, row in counts.iterrows():
        view.add_row(str(speaker), *(str(int(value)) for value in row))
    Console().print(view)
    if summary["skipped"]:
        console().print(f"{len(summary['skipped'])} file(s) skipped, e.g. {skip_line(summary['skipped'][0])}",
                         highlight=False, soft_wrap=True)


@command()
@_friendly
def extract(
    corpus: Annotated[str, typer.Argument(help="Corpus reader name (see scan).")],
    path: Annotated[Path, typer.Argument(help="Corpus folder (for manifest: the CSV file).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Parquet file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    jobs: JobsOption = None,
    cache_dir: CacheOption = None,
    scheduler: SchedulerOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
    features: Annotated[str, typer.Option("--features", help=FEATURES_HELP)] = "egemaps",
    option: ReaderOption = None,
) -> None:
    """Extract the features of a corpus (eGeMAPSv02 functionals by default) into a Parquet table."""
    from crossemo.features import extract_corpus

    summary = extract_corpus(corpus, path, out, jobs=jobs, cache_dir=cache_dir,
                             scheduler=scheduler, progress=None, force=force, feature_set=features,
                             options=reader_options(option))
    if as_json:
        print_json(summary)
        return
    console().print(f"{summary['extracted']} of {summary['files']} files -> {escape(summary['out'])}",
                     highlight=False)
    for item in summary["skipped"]:
        console().print(f"  skipped {skip_line(item)}", highlight=False, soft_wrap=True)


@command()
@_friendly
def run(
    config: Annotated[Path, typer.Argument(help="Study config (TOML).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a finished run in OUT, or write into a "
                                        "folder that holds something else.")] = False,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Override model.epochs.")] = None,
    methods: Annotated[Optional[str], typer.Option(help="Override model.methods, comma-separated.")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Override protocol.seeds, comma-separated.")] = None,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    cache_dir: CacheOption = None,
    features: Annotated[Optional[list[str]], typer.Option(
        "--features", help=FEATURES_HELP + " Override features.set; repeat it to compare several sets.")] = None,
) -> None:
    """Run a study: features, folds, models, transfer, metrics, report."""
    from crossemo.config import load_config
    from crossemo.study import run_study

    study = load_config(config, epochs=epochs, methods=split_list(methods), seeds=split_list(seeds, int),
                        jobs=jobs, scheduler=scheduler, cache_dir=cache_dir, features=features)
    results = run_study(study, out, force=force, report=False)
    path = _write_report(out, jobs=study.compute.jobs)
    print_summary(results)
    console().print(f"report: {shown(path)}", highlight=False)


def _write_report(run_dir: Path, *, cell: str | None = None, svg: bool = False, jobs: int | None = None) -> Path:
    """Write the report of ``run_dir`` with a spinner: figures take seconds, drawn on ``jobs`` cores."""
    from crossemo.report import write_report

    with console().status("writing the report: figures and HTML"):
        return write_report(run_dir, cell=cell, svg=svg, jobs=jobs)


@command()
@_friendly
def report(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    cell: Annotated[str | None, typer.Option(
        "--cell", help="Training set whose figures to draw in detail (e.g. ravdess+emodb); default: the first."
    )] = None,
    svg: Annotated[bool, typer.Option("--svg", help="Also write every figure as SVG (vector graphics).")] = False,
    jobs: JobsOption = None,
) -> None:
    """Write RUN_DIR/report.html and RUN_DIR/figures/ from a finished run."""
    path = _write_report(run_dir, cell=cell, svg=svg, jobs=jobs)
    console().print(f"report: {shown(path)}", highlight=False)


@command()
@_friendly
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the corpus to.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate the built-in synthetic multilingual emotional speech corpus."""
    from crossemo.synth import synthesize

    manifest = synthesize(out, seed=seed)
    console().print(f"manifest: {manifest}")


@command()
@_friendly
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")] = Path("runs/demo"),
    force: Annotated[bool, typer.Option("--force", help="Replace a finished demo run.")] = False,
) -> None:
    """Synthesize a corpus, run the whole study on it and write the report."""
    from crossemo.demo import run_demo

    results = run_demo(out, force=force)
    print_summary(results)
    console().print(f"report: {shown((out / 'report.html').resolve())}", highlight=False)


@command()
@_friendly
def methods(as_json: Annotated[bool, typer.Option("--json", help="Print the registry as JSON.")] = False) -> None:
    """List the registered methods: name, label, what each needs."""
    from crossemo.models.registry import describe_methods

    described = describe_methods()
    if as_json:
        print_json({"methods": described})
        return
    view = Table(title="registered methods")
    for column in ("name", "label", "kind", "needs", "description"):
        view.add_column(column)
    for item in described:
        view.add_row(item["name"], item["label"], item["kind"], ", ".join(item["needs"]) or "-", item["description"])
    Console().print(view)


def main() -> None:  # pragma: no cover - entry point
    app()


@command()
@_friendly
def train(
    config: Annotated[Path, typer.Argument(help="Study config (TOML); its training corpus is used whole.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle folder to write.")],
    method: Annotated[str, typer.Option(help=(
        "A registered method (list them with `crossemo methods`); default dae_sup, the latent that "
        "transfers best on the shipped corpora."))] = "dae_sup",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing bundle in OUT.")] = False,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Override model.epochs.")] = None,
    adapt: Annotated[
        Optional[Path],
        typer.Option(help="Unlabelled recordings of the domain the model will be used on (folder or CSV list): "
                          "the latent model trains with them (latent models only)."),
    ] = None,
    jobs: JobsOption = None,
    cache_dir: CacheOption = None,
    features: Annotated[Optional[str], typer.Option(
        "--features", help=FEATURES_HELP + " Overrides the config's; the bundle remembers it.")] = None,
    calibration_folds: Annotated[Optional[int], typer.Option(
        "--calibration-folds", min=0, help="Speaker-independent folds whose held-out scores calibrate the "
                                           "probabilities (default 3; 0: no calibration; fewer train faster).")] = None,
) -> None:
    """Train one model on the whole training corpus and write a bundle for `predict`."""
    from crossemo.bundle import train_bundle

    path = train_bundle(config, method, out, force=force, epochs=epochs, jobs=jobs, cache_dir=cache_dir,
                        adapt=adapt, features=features,
                        **({} if calibration_folds is None else {"calibration_folds": calibration_folds or None}))
    console().print(f"bundle: {path}")
    if adapt is not None:
        # The encoder saw the target rows standardized by their own statistics: so should its input.
        console().print(f"hint: to predict recordings of that domain, pass the same recordings to predict: "
                         f"--adapt {shown(adapt)}", highlight=False, soft_wrap=True)


@command(cls=PredictCommand)
@_friendly
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A bundle written by `train`.")],
    paths: Annotated[list[Path], typer.Argument(help="Audio files, folders (searched recursively) or CSV manifests.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="CSV file to write.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON records on stdout.")] = False,
    adapt: Annotated[
        Optional[Path],
        typer.Option(help="Unlabelled recordings of the new domain (folder or manifest) to normalize with."),
    ] = None,
    adapt_by_speaker: Annotated[
        bool,
        typer.Option("--adapt-by-speaker", help="Normalize each speaker by its own recordings; PATHS are CSV "
                                                "lists with a 'speaker' column."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing --out, --summary and --plot files.")] = False,
    jobs: JobsOption = None,
    cache_dir: CacheOption = None,
    min_confidence: Annotated[
        Optional[float],
        typer.Option("--min-confidence", help="Flag predictions whose calibrated confidence is below this "
                                              "probability as uncertain (0 < p < 1)."),
    ] = None,
    segment: Annotated[
        Optional[str],
        typer.Option("--segment", metavar="[MODE[:LENGTH[:HOP]]]",
                     help="One row per segment of each recording (bare --segment: vad): vad (speech, Silero VAD), "
                          "energy (sound above "
                          "the noise floor) or window (fixed windows), e.g. vad, energy:5, window:3:1.5; long "
                          "stretches become windows of LENGTH s (default 3) every HOP s (default LENGTH/2)."),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option("--plot", metavar="DIR", help="With --segment: write a timeline figure (PNG) per recording "
                                                   "into DIR."),
    ] = None,
    summary: Annotated[
        Optional[Path],
        typer.Option("--summary", metavar="FILE.csv", help="With --segment: write the per-recording summary "
                                                           "(speech time, share of time per emotion) to FILE.csv."),
    ] = None,
    features: Annotated[Optional[str], typer.Option(
        "--features", help="The bundle's feature set named anew, e.g. hf:NEW_FOLDER@6 when its model folder "
                           "moved (default: the one it was trained on; another set is refused).")] = None,
) -> None:
    """Predict emotions of recordings with a trained bundle: label, class scores, latent, flags.

    With --segment, long recordings are read in blocks and cut into segments, each predicted
    (start_s, end_s), and a summary per recording is printed. Exits with an error, writing
    nothing, when no recording could be predicted.
    """
    from crossemo.bundle import predict_files, prediction_records

    if out is None and not as_json:
        raise CrossemoError("give --out FILE.csv, --json, or both")
    if adapt is not None and adapt_by_speaker:
        raise CrossemoError("--adapt and --adapt-by-speaker exclude each other: normalize with the new domain's "
                            "recordings or with each speaker's own, not both")
    if segment is None and (plot is not None or summary is not None):
        raise CrossemoError("--plot and --summary describe segments over time: give --segment too (e.g. --segment vad)")
    if summary is not None:
        from crossemo.fileio import check_new_file

        check_new_file(summary, force=force, option="--summary")
    predictions = predict_files(model_dir, paths, out=out, adapt=adapt, adapt_by_speaker=adapt_by_speaker,
                                jobs=jobs, cache_dir=cache_dir, force=force, min_confidence=min_confidence,
                                segment=segment, plot=plot, features=features)
    if as_json:
        sys.stdout.write(json.dumps(prediction_records(predictions), indent=2) + "\n")
    failed = int(predictions["error"].notna().sum())
    what = "segments" if segment is not None else "recordings"
    console().print(f"{len(predictions) - failed} of {len(predictions)} {what} predicted"
                     + (f", {failed} with an error" if failed else "") + (f" -> {shown(out)}" if out else ""),
                     highlight=False)
    if segment is not None:
        print_segment_summary(predictions, summary)
    if plot is not None:
        console().print(f"timeline figures: {shown(plot)}", highlight=False)
    trained_with = predictions.attrs.get("target_recordings", 0)
    if trained_with and adapt is None and not adapt_by_speaker:
        console().print(f"hint: this model trained with {trained_with} recordings of a target domain; for "
                         "recordings of that domain pass them with --adapt", highlight=False, soft_wrap=True)


@command()
@_friendly
def export(
    model_dir: Annotated[Path, typer.Argument(help="A bundle written by `train`.")],
    onnx: Annotated[Path, typer.Option("--onnx", help="ONNX file to write: features in, class probabilities out.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --onnx file.")] = False,
) -> None:
    """Export a trained bundle as an ONNX graph (feature extraction stays in Python: openSMILE)."""
    from crossemo.bundle import export_onnx

    path = export_onnx(model_dir, onnx, force=force)
    console().print(f"onnx: {shown(path)}", highlight=False)
