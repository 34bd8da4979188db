"""Command-line interface: a thin typer layer, every verb one call of the Python API."""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

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


def _console() -> Console:
    return Console(stderr=True)


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _printable(text: str, *, newlines: bool = True) -> str:
    """``text`` safe for a terminal: control characters (but newlines, if allowed) and
    undecodable bytes (surrogates) as ``\\xNN``."""

    def code(match: re.Match[str]) -> str:
        character = match.group()
        value = ord(character)
        if newlines and character == "\n":
            return character
        if 0xDC80 <= value <= 0xDCFF:  # an undecodable byte, as os.fsdecode gives it
            return f"\\x{value - 0xDC00:02x}"
        return f"\\x{value:02x}" if value < 0x80 else "\ufffd"

    return _UNPRINTABLE.sub(code, text)


def _friendly(command):
    """Print a CrossemoError as one line on stderr and exit 2, instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CrossemoError as error:
            message = escape(_printable(str(error)))
            _console().print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            _console().print("interrupted: finished work is kept; run the same command again to resume")
            raise typer.Exit(code=130) from None

    return wrapper


def _print_json(data: dict) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


JobsOption = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Worker processes (default: all cores).")]
CacheOption = Annotated[Optional[Path], typer.Option("--cache-dir", help="Feature cache folder (default: the user's cache).")]
SchedulerOption = Annotated[
    Optional[str], typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: local processes).")
]


@command()
@_friendly
def scan(
    corpus: Annotated[str, typer.Argument(help="Corpus reader: iemocap, emodb, savee, cafe, urdu, aesd, ravdess, tess, manifest.")],
    path: Annotated[Path, typer.Argument(help="Corpus folder (for manifest: the CSV file).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List a corpus: files, labels and speakers, and what was skipped."""
    from crossemo.corpora import class_by_speaker, read_corpus, summarize

    table = read_corpus(corpus, path)
    summary = summarize(table)
    if as_json:
        _print_json(summary)
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
        _console().print(f"{len(summary['skipped'])} file(s) skipped, e.g. {_skip_line(summary['skipped'][0])}",
                         highlight=False, soft_wrap=True)


def _skip_line(item: dict) -> str:
    """A skip record on one terminal line: its path is text already, its reason may hold anything."""
    return escape(f"{_printable(str(item['path']), newlines=False)}: {_printable(str(item['reason']), newlines=False)}")


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
) -> None:
    """Extract the 88 eGeMAPSv02 functionals of a corpus into a Parquet table."""
    from crossemo.features import extract_corpus

    summary = extract_corpus(corpus, path, out, jobs=jobs, cache_dir=cache_dir,
                             scheduler=scheduler, progress=None, force=force)
    if as_json:
        _print_json(summary)
        return
    _console().print(f"{summary['extracted']} of {summary['files']} files -> {escape(summary['out'])}",
                     highlight=False)
    for item in summary["skipped"]:
        _console().print(f"  skipped {_skip_line(item)}", highlight=False, soft_wrap=True)


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
) -> None:
    """Run a study: features, folds, models, transfer, metrics, report."""
    from crossemo.config import load_config
    from crossemo.study import run_study

    study = load_config(config, epochs=epochs, methods=_split(methods), seeds=_split(seeds, int),
                        jobs=jobs, scheduler=scheduler, cache_dir=cache_dir)
    results = run_study(study, out, force=force, report=False)
    path = _write_report(out)
    print_summary(results)
    _console().print(f"report: {_shown(path)}", highlight=False)


def _write_report(run_dir: Path, *, cell: str | None = None) -> Path:
    """Write the report of ``run_dir`` with a spinner: figures take several seconds."""
    from crossemo.report import write_report

    with _console().status("writing the report: figures and HTML"):
        return write_report(run_dir, cell=cell)


def _shown(path: Path) -> str:
    """A path for a terminal line (see :func:`crossemo.fileio.path_to_text`), markup escaped."""
    from crossemo.fileio import path_to_text

    return escape(path_to_text(path))


@command()
@_friendly
def report(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    cell: Annotated[str | None, typer.Option(
        "--cell", help="Training set whose figures to draw in detail (e.g. ravdess+emodb); default: the first."
    )] = None,
) -> None:
    """Write RUN_DIR/report.html and RUN_DIR/figures/ from a finished run."""
    path = _write_report(run_dir, cell=cell)
    _console().print(f"report: {_shown(path)}", highlight=False)


@command()
@_friendly
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the corpus to.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate the built-in synthetic multilingual emotional speech corpus."""
    from crossemo.synth import synthesize

    manifest = synthesize(out, seed=seed)
    _console().print(f"manifest: {manifest}")


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
    _console().print(f"report: {_shown((out / 'report.html').resolve())}", highlight=False)


@command()
@_friendly
def methods(as_json: Annotated[bool, typer.Option("--json", help="Print the registry as JSON.")] = False) -> None:
    """List the registered methods: name, label, what each needs."""
    from crossemo.models.registry import describe_methods

    described = describe_methods()
    if as_json:
        _print_json({"methods": described})
        return
    view = Table(title="registered methods")
    for column in ("name", "label", "kind", "needs", "description"):
        view.add_column(column)
    for item in described:
        view.add_row(item["name"], item["label"], item["kind"], ", ".join(item["needs"]) or "-", item["description"])
    Console().print(view)


def print_summary(results: dict) -> None:
    """A table of mean balanced accuracy per method, corpus and condition."""
    view = Table(title="balanced accuracy, % (mean over folds [95% CI])")
    for column in ("classes", "method", "corpus", "condition", "accuracy", "log BD"):
        view.add_column(column, no_wrap=True)
    for record in results["results"]:
        accuracy = record["balanced_accuracy"]
        low, high = accuracy["ci95"]
        log_bd = record["log_bhattacharyya"]
        view.add_row(
            str(record["classes"]), record["method"], record["corpus"], record["condition"],
            f"{100 * accuracy['mean']:.1f} [{100 * low:.1f}, {100 * high:.1f}]",
            "" if log_bd is None else f"{log_bd['mean']:.2f}",
        )
    Console().print(view)


def _split(text: str | None, kind=str):
    if text is None:
        return None
    try:
        return [kind(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CrossemoError(f"cannot read {text!r} as a comma-separated list of {kind.__name__}") from None


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
) -> None:
    """Train one model on the whole training corpus and write a bundle for `predict`."""
    from crossemo.bundle import train_bundle

    path = train_bundle(config, method, out, force=force, epochs=epochs, jobs=jobs, cache_dir=cache_dir,
                        adapt=adapt)
    _console().print(f"bundle: {path}")
    if adapt is not None:
        # The encoder saw the target rows standardized by their own statistics: so should its input.
        _console().print(f"hint: to predict recordings of that domain, pass the same recordings to predict: "
                         f"--adapt {_shown(adapt)}", highlight=False, soft_wrap=True)


@command()
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
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    jobs: JobsOption = None,
    cache_dir: CacheOption = None,
) -> None:
    """Predict emotions of recordings with a trained bundle: label, class scores, latent, flags.

    Exits with an error, writing nothing, when no recording could be predicted.
    """
    from crossemo.bundle import predict_files, prediction_records

    if out is None and not as_json:
        raise CrossemoError("give --out FILE.csv, --json, or both")
    if adapt is not None and adapt_by_speaker:
        raise CrossemoError("--adapt and --adapt-by-speaker exclude each other: normalize with the new domain's "
                            "recordings or with each speaker's own, not both")
    predictions = predict_files(model_dir, paths, out=out, adapt=adapt, adapt_by_speaker=adapt_by_speaker,
                                jobs=jobs, cache_dir=cache_dir, force=force)
    if as_json:
        sys.stdout.write(json.dumps(prediction_records(predictions), indent=2) + "\n")
    failed = int(predictions["error"].notna().sum())
    _console().print(f"{len(predictions) - failed} of {len(predictions)} recordings predicted"
                     + (f", {failed} with an error" if failed else "") + (f" -> {_shown(out)}" if out else ""),
                     highlight=False)
    trained_with = predictions.attrs.get("target_recordings", 0)
    if trained_with and adapt is None and not adapt_by_speaker:
        _console().print(f"hint: this model trained with {trained_with} recordings of a target domain; for "
                         "recordings of that domain pass them with --adapt", highlight=False, soft_wrap=True)
