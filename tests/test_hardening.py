"""Bad input, as a bad-input campaign found it (issue 17): odd names, broken caches, overwrites, empty results.

Each test states the rule it checks; the fuzz test at the end throws random bytes, garbled WAV
headers and random names at scan, extract and predict.
"""

from __future__ import annotations

import io
import json
import os
import random
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile
from typer.testing import CliRunner

from crossemo.cli import app
from crossemo.config import parse_config
from crossemo.corpora import read_corpus
from crossemo.errors import CrossemoError
from crossemo.evaluation.metrics import mean_ci95
from crossemo.features import extract, extract_corpus, extract_files, feature_names, get_extractor
from crossemo.features.cache import HASH_SCHEMA, FeatureCache
from crossemo.features.extraction import compute_file
from crossemo.fileio import path_from_text, path_to_text
from tests.fixtures import make_corpus, write_tone

ODD_FOLDER = os.fsdecode(b"Actor_01\xff")  # a folder name that is not UTF-8
NOT_UTF8 = os.fsdecode(b"\xff.wav")
NEWLINE_QUOTES = "new\nline 'single' \"double\" [bold]x.wav"


def odd_name(folder: Path, name: str) -> Path:
    """A tone under ``folder`` named ``name``: any characters, in any folder (the fixture writes plain names)."""
    with tempfile.TemporaryDirectory() as plain:
        tone = write_tone(Path(plain) / "tone.wav", label="happy").read_bytes()
    os.makedirs(folder, exist_ok=True)
    target = folder / name
    target.write_bytes(tone)
    return target


def one_line_error(result) -> str:
    """The CLI's error output, checked to be a single line without a traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no exception escaped
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> SimpleNamespace:
    """A RAVDESS copy whose first actor sits in a folder with a non-UTF-8 name, plus oddly named strays."""
    root = tmp_path_factory.mktemp("odd")
    corpus = make_corpus("ravdess", root / "ravdess", per_class=1)
    os.rename(corpus / "Actor_01", corpus / ODD_FOLDER)
    odd_name(corpus / "Actor_02", NOT_UTF8)
    odd_name(corpus / "Actor_02", NEWLINE_QUOTES)
    clips = root / "clips"
    for name in (NOT_UTF8, NEWLINE_QUOTES):
        odd_name(clips / ODD_FOLDER, name)
    odd_name(clips / ODD_FOLDER, "plain.wav")
    return SimpleNamespace(root=root, corpus=corpus, clips=clips, cache=root / "cache")


@pytest.fixture(scope="module")
def bundle(odd, one_thread) -> Path:
    """A PCA bundle trained on the odd corpus (fast: no network to train)."""
    from crossemo.bundle import train_bundle

    config = parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(odd.corpus)},
            "compute": {"jobs": 1, "cache_dir": str(odd.cache)},
        }
    )
    return train_bundle(config, "pca", odd.root / "pca.bundle", progress=False)


# --------------------------------------------------------------------------- paths as text


def test_path_text_is_reversible_printable_and_leaves_plain_names_alone() -> None:
    rng = random.Random(17)
    alphabet = ["\\", "x", "f", "0", "a", "\n", "\t", "\x7f", "\udcff", "\udc80", "é", "/", '"', "'", "1", "\x00"]
    for _ in range(20_000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        text = path_to_text(name)
        text.encode("utf-8")  # valid Unicode: no lone surrogates
        assert "\n" not in text and path_from_text(text) == name
    for plain in ("Actor_01/03-01-05-01-02-01-01.wav", "Ωμέγα/ça 'va' \"bien\".wav", "C:\\data"):
        assert path_to_text(plain) == plain


# --------------------------------------------------------------------------- item 0: the cache


def test_a_compacted_large_string_hash_shard_and_a_new_string_shard_read_as_one(tmp_path) -> None:
    """Issue item 0: a compacted ``large_string`` shard next to a new ``string`` one broke every command."""
    files = [write_tone(tmp_path / "audio" / f"{index}.wav", label="sad") for index in range(3)]
    cache = FeatureCache.open(tmp_path / "cache", get_extractor("egemaps"))
    store = cache.hashes
    store.folder.mkdir(parents=True)
    large = pa.schema([(field.name, pa.large_string() if field.type == pa.string() else field.type)
                       for field in HASH_SCHEMA])
    compacted = {"path": [f"/elsewhere/{index}.wav" for index in range(100)], "size": [1] * 100,
                 "mtime_ns": [2] * 100, "ctime_ns": [3] * 100, "sha256": ["0" * 64] * 100}
    pq.write_table(pa.table(compacted, schema=large), store.folder / "0-compacted.parquet")

    hashes, _, failures = cache.content_hashes([str(file) for file in files])  # writes a `string` shard

    assert len(hashes) == 3 and not failures
    assert {pq.read_schema(shard).field("path").type for shard in store.shards()} == {pa.large_string(), pa.string()}
    table = store.read()
    assert table.schema == HASH_SCHEMA and table.num_rows == 103
    found = extract_files(files, cache_dir=tmp_path / "cache", jobs=1, progress=False)
    assert found["error"].isna().all()


def test_a_corrupt_shard_is_dropped_with_a_warning_and_recomputed(tmp_path) -> None:
    file = write_tone(tmp_path / "a.wav", label="angry")
    first = extract_files([file], cache_dir=tmp_path / "cache", jobs=1, progress=False)
    cache = FeatureCache.open(tmp_path / "cache", get_extractor("egemaps"))
    for shard in cache.features.shards():
        shard.write_bytes(b"PAR1 not parquet")
    with pytest.warns(UserWarning, match="removing unreadable cache shard"):
        again = extract_files([file], cache_dir=tmp_path / "cache", jobs=1, progress=False)
    assert again.attrs["computed"] == 1
    names = feature_names()
    np.testing.assert_array_equal(again[names].to_numpy(), first[names].to_numpy())


def test_cached_rows_no_writer_writes_are_ignored(tmp_path) -> None:
    """A shard row with a NaN feature or a null key is not served: the file is computed afresh."""
    file = write_tone(tmp_path / "a.wav", label="angry")
    first = extract_files([file], cache_dir=tmp_path / "cache", jobs=1, progress=False)
    cache = FeatureCache.open(tmp_path / "cache", get_extractor("egemaps"))
    for shard in cache.features.shards():
        table = pq.read_table(shard)
        column = table.schema.get_field_index(feature_names()[0])
        nan = pa.array([float("nan")] * table.num_rows, table.schema.field(column).type)
        pq.write_table(table.set_column(column, table.schema.field(column), nan), shard)
    again = extract_files([file], cache_dir=tmp_path / "cache", jobs=1, progress=False)
    assert again.attrs["computed"] == 1 and again["error"].isna().all()
    np.testing.assert_array_equal(again[feature_names()].to_numpy(), first[feature_names()].to_numpy())


# --------------------------------------------------------------------------- items 1-3: odd names


def test_odd_names_go_through_scan_and_extract(odd, tmp_path) -> None:
    table = read_corpus("ravdess", odd.corpus)
    in_odd_folder = [path for path in table["path"] if path.startswith(path_to_text(ODD_FOLDER) + "/")]
    assert len(in_odd_folder) == 8  # item 3: read, not dropped as unreadable audio
    skipped = {entry["path"]: entry["reason"] for entry in table.attrs["skipped"]}
    assert set(skipped) == {f"Actor_02/{path_to_text(NOT_UTF8)}", f"Actor_02/{path_to_text(NEWLINE_QUOTES)}"}
    assert all("scheme" in reason for reason in skipped.values())

    out = tmp_path / "odd.parquet"
    summary = extract_corpus("ravdess", odd.corpus, out, cache_dir=odd.cache, jobs=1, progress=False)
    written = pd.read_parquet(out)
    assert summary["extracted"] == len(written) == len(table)
    root = path_from_text(written.attrs["root"])
    assert all(os.path.isfile(os.path.join(root, path_from_text(path))) for path in written["path"])
    json.dumps(summary, ensure_ascii=False).encode("utf-8")


def test_odd_names_go_through_predict(odd, bundle, tmp_path) -> None:
    from crossemo.bundle import predict_files

    out = tmp_path / "predictions.csv"
    predictions = predict_files(bundle, [odd.clips], out=out, jobs=1, cache_dir=odd.cache, progress=False)
    assert len(predictions) == 3 and predictions["error"].isna().all()  # items 2 and 3
    written = pd.read_csv(out)
    assert sorted(os.path.basename(path_from_text(path)) for path in written["path"]) == sorted(
        [NOT_UTF8, NEWLINE_QUOTES, "plain.wav"]
    )
    again = predict_files(bundle, [out], jobs=1, cache_dir=odd.cache, progress=False)  # its CSV lists them again
    assert again["error"].isna().all() and again["path"].tolist() == predictions["path"].tolist()


def test_odd_names_go_through_a_study_and_its_report(odd, tmp_path, one_thread) -> None:
    from crossemo.report import load_run
    from crossemo.report.html import build_html
    from crossemo.study import run_study

    config = parse_config(
        {
            "train": {"corpus": "ravdess", "path": str(odd.corpus)},
            "protocol": {"folds": 2},
            "model": {"methods": ["dae"], "epochs": 1},
            "compute": {"jobs": 1, "cache_dir": str(odd.cache)},
        }
    )
    out = tmp_path / os.fsdecode(b"run\xfe")
    run_study(config, out, progress=False, report=False)
    # The page without its figures (they take seconds and show no file names); item 1 crashed encoding it.
    page = build_html(load_run(out), []).encode("utf-8").decode("utf-8")
    assert "Actor_02/\\xff.wav" in page and "<b" not in page.split("<body>")[1].replace("<br", "")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    skipped = [entry["path"] for entry in results["corpora"]["ravdess"]["skipped"]]
    assert f"Actor_02/{path_to_text(NOT_UTF8)}" in skipped
    with open(out / "latents.parquet", "rb") as handle:  # pyarrow opens no path that is not UTF-8
        latents = pd.read_parquet(handle)
    assert latents["path"].str.startswith(path_to_text(ODD_FOLDER)).any()


# --------------------------------------------------------------------------- items 4, 7, 13, 14 and the CLI


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_extract_out_never_replaces_a_file_without_force(odd, runner, tmp_path) -> None:
    out = tmp_path / "config.toml"
    out.write_text("keep me\n")
    arguments = ["extract", "ravdess", str(odd.corpus), "--out", str(out), "--jobs", "1", "--cache-dir", str(odd.cache)]
    line = one_line_error(runner.invoke(app, arguments))
    assert "exists" in line and "--force" in line and out.read_text() == "keep me\n"

    result = runner.invoke(app, [*arguments, "--force"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 48
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.toml"]  # atomic: no temporary left


def test_predict_out_never_replaces_a_file_without_force(odd, bundle, runner, tmp_path) -> None:
    out = tmp_path / "study.toml"
    out.write_text("keep me\n")
    arguments = ["predict", str(bundle), str(odd.clips), "--out", str(out), "--jobs", "1", "--cache-dir", str(odd.cache)]
    assert "--force" in one_line_error(runner.invoke(app, arguments)) and out.read_text() == "keep me\n"
    assert runner.invoke(app, [*arguments, "--force"]).exit_code == 0
    assert len(pd.read_csv(out)) == 3


def test_predict_that_predicts_nothing_fails(odd, bundle, runner, tmp_path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "noise.wav").write_bytes(b"RIFF not really")
    soundfile.write(bad / "dc.wav", np.full(16_000, 0.5, dtype=np.float32), 16_000)
    common = ["--json", "--jobs", "1", "--cache-dir", str(odd.cache)]
    for target, expected in ((tmp_path / "missing", "No such file"), (bad, "constant signal")):
        line = one_line_error(runner.invoke(app, ["predict", str(bundle), str(target), *common]))
        assert "nothing predicted" in line and expected in line


def test_extract_that_extracts_nothing_fails_and_writes_nothing(runner, tmp_path) -> None:
    corpus = make_corpus("emodb", tmp_path / "emodb", per_class=1)
    for file in corpus.rglob("*.wav"):  # valid headers, but a DC offset only
        soundfile.write(file, np.full(8_000, 0.5, dtype=np.float32), 16_000)
    out = tmp_path / "emodb.parquet"
    line = one_line_error(runner.invoke(app, ["extract", "emodb", str(corpus), "--out", str(out), "--jobs", "1",
                                              "--cache-dir", str(tmp_path / "cache")]))
    assert "no features extracted" in line and "constant signal" in line and not out.exists()
    line = one_line_error(runner.invoke(app, ["extract", "emodb", str(tmp_path / "nowhere"), "--out", str(out)]))
    assert "not found" in line


def test_a_constant_signal_is_not_speech(tmp_path) -> None:
    """Item 13: DC only (0.5) or a constant near zero passes the peak test but carries no signal."""
    extractor = get_extractor("egemaps")
    for value in (0.5, -0.25, 1e-3):
        path = tmp_path / f"dc{value}.wav"
        soundfile.write(path, np.full(16_000, value, dtype=np.float32), 16_000, subtype="FLOAT")
        reason = compute_file(extractor, str(path))
        assert isinstance(reason, str) and reason.startswith("silent audio: a constant signal"), reason
    speech = write_tone(tmp_path / "tone.wav", label="sad")
    assert not isinstance(compute_file(extractor, str(speech)), str)


def test_confidence_interval_is_clipped_to_the_unit_interval() -> None:
    """Item 9: over few spread folds the t interval left [0, 1] (``[-4.0, 64.0]`` in the issue)."""
    mean, low, high = mean_ci95([0.05, 0.95])
    assert (mean, low, high) == (pytest.approx(0.5), 0.0, 1.0)


def test_report_on_a_file_says_it_is_a_file(runner, tmp_path) -> None:
    file = tmp_path / "results.json"
    file.write_text("{}")
    assert "is a file, not a run directory" in one_line_error(runner.invoke(app, ["report", str(file)]))
    assert "run directory not found" in one_line_error(runner.invoke(app, ["report", str(tmp_path / "none")]))


def test_cli_conventions(runner) -> None:
    from crossemo import __version__

    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.strip() == f"crossemo {__version__}"
    for arguments in (["-h"], ["predict", "-h"], ["extract", "--help"]):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0 and "Usage" in result.stdout
        assert "<bool>" not in result.stdout, result.stdout


def test_skip_lists_print_names_escaped(odd, runner) -> None:
    result = runner.invoke(app, ["scan", "ravdess", str(odd.corpus)])
    assert result.exit_code == 0, result.output
    assert "\\xff.wav" in result.stderr and "\n" not in result.stderr.strip()


def test_the_report_phase_shows_progress(runner, tmp_path, monkeypatch) -> None:
    from rich.console import Console

    import crossemo.report

    shown = []
    original = Console.status
    monkeypatch.setattr(Console, "status", lambda self, text, **kw: shown.append(text) or original(self, text, **kw))
    monkeypatch.setattr(crossemo.report, "write_report", lambda run_dir, **_: Path(run_dir) / "report.html")
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert shown == ["writing the report: figures and HTML"]


# --------------------------------------------------------------------------- fuzz

FUZZ_SEED = 17
FUZZ_ROUNDS = 8
FUZZ_FILES = 12
NAME_ALPHABET = [*"abcXYZ019 _-.", "\n", "'", '"', "[", "]", "\\", "é", "\t", "$", "*", "%"]


def random_name(rng: random.Random) -> bytes:
    """A file-name component: letters, quotes, newlines, brackets and non-UTF-8 bytes."""
    parts = []
    for _ in range(rng.randint(1, 10)):
        if rng.random() < 0.2:
            parts.append(bytes([rng.randint(0x80, 0xFF)]))
        else:
            parts.append(rng.choice(NAME_ALPHABET).encode())
    name = b"".join(parts).replace(b"/", b"_")
    return b"_" + name if name in (b".", b"..") else name


def random_audio(rng: random.Random) -> bytes:
    """Random bytes, a garbled or truncated WAV header, or a valid WAV of a random (possibly odd) signal."""
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 300))
    buffer = io.BytesIO()
    rate = rng.choice([8_000, 16_000, 44_100])
    frames = rng.choice([0, 10, rate // 3, rate])
    signal = {
        1: lambda: np.sin(np.arange(frames) * rng.uniform(0.01, 0.3)) * rng.uniform(0.01, 1),
        2: lambda: np.full(frames, rng.choice([0.0, 0.5, -1.0])),
        3: lambda: np.random.default_rng(rng.randrange(2**32)).normal(0, rng.choice([1e-6, 0.1]), frames),
        4: lambda: np.where(np.arange(frames) % 7 == 0, np.nan, 0.1),
    }[kind]()
    channels = rng.choice([1, 2])
    data = np.repeat(signal[:, None], channels, axis=1).astype(np.float32)
    soundfile.write(buffer, data, rate, format="WAV", subtype=rng.choice(["PCM_16", "FLOAT"]))
    raw = bytearray(buffer.getvalue())
    if rng.random() < 0.4:  # garble the header or cut the file short
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 6)):
                raw[rng.randrange(min(44, len(raw)))] = rng.randrange(256)
        else:
            raw = raw[: rng.randint(0, len(raw))]
    return bytes(raw)


def test_fuzz_scan_extract_predict_never_raise_a_traceback(bundle, odd, runner, tmp_path, capsys) -> None:
    """Seeded random files and names at scan (a folder, a manifest), extract and predict (API and CLI).

    Every outcome is a table (with skips or error rows) or a CrossemoError; the CLI exits 0 or 2.
    """
    from crossemo.bundle import load_model

    rng = random.Random(FUZZ_SEED)
    model = load_model(bundle)
    cases = 0
    started = time.perf_counter()
    for round_number in range(FUZZ_ROUNDS):
        folder = os.path.join(os.fsencode(tmp_path), b"round%d" % round_number, random_name(rng))
        os.makedirs(folder)
        names = []
        for index in range(FUZZ_FILES):
            name = random_name(rng) + rng.choice([b".wav", b".WAV", b".flac", b""])
            name = b"%d%s" % (index, name)  # distinct
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(random_audio(rng))
            names.append(os.fsdecode(name))
        folder = os.fsdecode(folder)
        manifest = Path(folder) / "manifest.csv"
        pd.DataFrame({"path": [path_to_text(name) for name in names],
                      "emotion": [rng.choice(["anger", "sad", "happy", "neutral", "??"]) for _ in names]}
                     ).to_csv(manifest, index=False)
        cases += len(names)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning would be a sign of trouble too
            for corpus, path in (("ravdess", folder), ("manifest", manifest)):
                try:
                    table = read_corpus(corpus, path)
                except CrossemoError:
                    continue
                features = extract(table, cache_dir=odd.cache, jobs=1, progress=False)
                assert len(features) + len(features.attrs["skipped"]) >= len(table)
            try:
                predictions = model.predict([folder], jobs=1, cache_dir=odd.cache, progress=False)
            except CrossemoError:
                pass
            else:
                assert predictions["predicted"].isna().eq(predictions["error"].notna()).all()
        result = runner.invoke(app, ["predict", str(bundle), folder, "--json", "--jobs", "1",
                                     "--cache-dir", str(odd.cache)])
        assert result.exit_code in (0, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        if result.exit_code == 0:
            json.loads(result.stdout)
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nfuzz: {cases} random files in {FUZZ_ROUNDS} rounds (scan x2, extract, predict API + CLI each) "
              f"in {elapsed:.1f} s")
