"""The built-in demo end to end, shrunk: synth -> study -> report."""

from __future__ import annotations

import json

from crossemo.demo import run_demo
from crossemo.models.registry import registry
from crossemo.synth import synthesize


def test_a_small_demo_writes_a_full_run_and_its_report(tmp_path):
    out = tmp_path / "demo"

    results = run_demo(out, utterances=2, epochs=2, progress=False, cache_dir=tmp_path / "cache")

    stored = json.loads((out / "results.json").read_text())
    assert stored["results"] == json.loads(json.dumps(results["results"]))
    combos = {(r["method"], r["corpus"], r["condition"]) for r in results["results"]}
    for method in registry():
        assert (method, "xa", "within") in combos
        for corpus in ("xb", "xc"):
            assert (method, corpus, "unseen") in combos
            assert (method, corpus, "target_norm") in combos
    report = (out / "report.html").read_text()
    figures = sorted(path.stem for path in (out / "figures").glob("*.png"))
    assert figures and all(f"img-{name}" in report for name in figures)
    # A second demo into the same folder (as `make demo` runs it, with force) reuses the corpus:
    # synthesizing it again with the demo's settings leaves it untouched.
    manifest_mtime = (out / "corpus" / "manifest.csv").stat().st_mtime_ns
    synthesize(out / "corpus", seed=0, utterances_per_emotion_per_speaker=2)
    assert (out / "corpus" / "manifest.csv").stat().st_mtime_ns == manifest_mtime
