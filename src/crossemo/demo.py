"""The built-in demo: a synthetic multilingual corpus, the whole study on it, the report.

Runs anywhere, with no corpus to download: train on one synthetic language,
transfer to the others, all four models and both baselines, both conditions.
"""

from __future__ import annotations

from pathlib import Path

from crossemo.config import parse_config
from crossemo.errors import CrossemoError
from crossemo.study import run_study

DEMO_UTTERANCES = 16
"""Utterances per emotion and speaker: enough training steps for the autoencoders, yet a demo of minutes."""


def demo_config(corpus_dir: Path, *, epochs: int = 50, seeds: tuple[int, ...] = (0,)) -> dict:
    """The demo study over the per-language manifests of a synthetic corpus in ``corpus_dir``."""
    manifests = sorted(corpus_dir.glob("*/manifest.csv"))
    if len(manifests) < 2:
        raise CrossemoError(f"{corpus_dir} holds fewer than two language manifests: not a synthetic corpus")
    train, *transfers = manifests
    return {
        "train": {"corpus": "manifest", "path": str(train), "name": train.parent.name},
        "transfer": [
            {"corpus": "manifest", "path": str(path), "name": path.parent.name} for path in transfers
        ],
        # The synthetic latents of the VAEs are small in scale; standardizing them keeps
        # SVC(C=1) from underfitting (see protocol.scale_latent), so all four models show.
        "protocol": {"folds": 5, "split": "speaker", "seeds": list(seeds), "scale_latent": True},
        "model": {"epochs": epochs},
    }


def run_demo(
    out: str | Path,
    *,
    force: bool = False,
    seed: int = 0,
    progress: bool | None = None,
    utterances: int = DEMO_UTTERANCES,
    epochs: int = 50,
    cache_dir: str | Path | None = None,
) -> dict:
    """Synthesize the corpus into ``out/corpus`` (once), run the study into ``out``, write the report.

    ``utterances`` (per emotion and speaker) and ``epochs`` shrink the demo, e.g. for a smoke test.
    """
    from crossemo.study import rundir
    from crossemo.study.rundir import TASKS_DIR
    from crossemo.synth import synthesize

    out = Path(out)
    corpus_dir = out / "corpus"
    if not force and out.is_dir() and not (out / TASKS_DIR).is_dir() and any(out.iterdir()):
        ours = {"corpus", TASKS_DIR, rundir.RESULTS_FILE, rundir.METRICS_FILE, rundir.LATENTS_FILE,
                rundir.CONFIG_FILE, rundir.REPORT_FILE, rundir.FIGURES_DIR}
        foreign = sorted(entry.name for entry in out.iterdir() if entry.name not in ours)
        if foreign:
            raise CrossemoError(
                f"{out} holds files that are not a crossemo demo ({', '.join(foreign[:3])}); "
                "choose another --out or pass --force"
            )
    synthesize(corpus_dir, seed=seed, utterances_per_emotion_per_speaker=utterances)
    (out / TASKS_DIR).mkdir(exist_ok=True)  # a run in progress: the corpus beside it is the demo's own
    study = demo_config(corpus_dir, epochs=epochs)
    if cache_dir is not None:
        study["compute"] = {"cache_dir": str(cache_dir)}
    return run_study(parse_config(study), out, force=force, progress=progress)
