"""Long recordings cut into segments: voice activity, sound above the noise floor, or fixed windows.

A :class:`Segmentation` says how (``"vad"``, ``"energy"`` or ``"window:3:1.5"`` as text,
:func:`parse_segmentation`).  Recordings are read in blocks of :data:`BLOCK_S` seconds
(:func:`read_blocks`, the mono mix-down :func:`crossemo.audio.read_audio` gives), so
memory does not grow with duration: a :class:`FrameScorer` turns each block into
per-frame scores, carrying its filters' state and the samples of an unfinished frame
across block edges.  Only the scores (one float per 10 or 32 ms) are kept; the
stateless functions below turn them into regions and the regions into segments.

- ``vad``: the Silero voice activity detector (``silero-vad``, its ONNX model run by
  onnxruntime on the CPU, offline: the model file ships inside the wheel).  It finds
  *speech*: tones, hum and noise bursts are not speech to it.
- ``energy``: *sound* above the recording's own noise floor (frame levels after the
  DC-removing high-pass, threshold halfway in dB between the floor and the loud
  frames), for any sound, or where silero-vad is not installed.
- ``window``: fixed windows of a length and hop, no detection.

Both detectors see the signal after a high-pass at :data:`HIGH_PASS_HZ`, so a DC offset
and rumble change nothing; their thresholds are relative (a probability, or dB above the
floor), so a constant noise floor is not taken for speech.  Regions shorter than
``min_segment_s`` are dropped, gaps shorter than ``min_silence_s`` closed, regions
padded by ``pad_s``, and regions longer than ``length_s`` cut into overlapping windows
of ``length_s`` every ``hop_s`` (the last one ending with the region).  A recording no
longer than ``length_s`` is one segment, the whole file, whatever the mode: it is
predicted exactly as without segmentation.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soundfile
from scipy import signal as sps

from crossemo.audio import MIN_DURATION_S, AudioError
from crossemo.errors import CrossemoError

MODES: tuple[str, ...] = ("vad", "energy", "window")
SEGMENT_LENGTH_S = 3.0
"""Default segment (window) length: about an acted sentence, what the models are trained on."""
BLOCK_S = 5.0
"""Seconds of audio read at a time: a few MB of buffers, and many blocks per minute cost nothing."""
HIGH_PASS_HZ = 60.0
"""Cut-off of the high-pass both detectors see the signal through: removes DC offset and rumble."""
ENERGY_FRAME_S = 0.01
ENVELOPE_S = 0.05
"""Resolution of the waveform envelope a detection keeps for the timeline figure."""
VAD_RATES: tuple[int, ...] = (8000, 16000)
"""Sample rates the Silero model takes (other rates are resampled to 16 kHz for it)."""
VAD_CONTEXT = {8000: 32, 16000: 64}
"""Samples of the previous frame the Silero model sees with each frame."""
VAD_FRAME = {8000: 256, 16000: 512}
"""Samples per Silero frame (32 ms)."""


class SegmentationError(CrossemoError, ValueError):
    """A segmentation that cannot be done: a malformed spec, silero-vad missing, options that exclude each
    other, figure files in the way."""


@dataclass(frozen=True)
class Segmentation:
    """How recordings are cut into segments (see the module's description).

    ``length_s`` is the longest segment (longer speech becomes overlapping windows)
    and ``hop_s`` the step between windows (default half the length); ``threshold``
    is the speech probability (``vad``) or the least margin in dB over the noise floor
    (``energy``) a frame needs to start a region, and frames stay in one down to
    ``threshold - 0.15`` (``vad``) or ``threshold - 3`` dB (``energy``).
    """

    mode: str = "vad"
    length_s: float = SEGMENT_LENGTH_S
    hop_s: float | None = None
    min_segment_s: float = 0.25
    min_silence_s: float = 0.1
    pad_s: float = 0.03
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SegmentationError(f"unknown segmentation mode {self.mode!r}; choose one of {', '.join(MODES)}")
        for name in ("length_s", "min_segment_s", "min_silence_s", "pad_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise SegmentationError(f"segmentation {name} must be a non-negative number of seconds, got {value!r}")
        if self.length_s < MIN_DURATION_S:
            raise SegmentationError(f"segment length {self.length_s} s is shorter than the {MIN_DURATION_S} s "
                                    "eGeMAPS needs")
        if self.min_segment_s < MIN_DURATION_S:
            raise SegmentationError(f"min_segment_s {self.min_segment_s} s is shorter than the {MIN_DURATION_S} s "
                                    "eGeMAPS needs")
        hop = self.hop
        if not math.isfinite(hop) or not 0 < hop <= self.length_s:
            raise SegmentationError(f"segment hop must be above 0 and at most the length {self.length_s} s, "
                                    f"got {self.hop_s!r}")

    @property
    def hop(self) -> float:
        """The hop in seconds (half the length unless given)."""
        return self.length_s / 2 if self.hop_s is None else float(self.hop_s)

    def describe(self) -> str:
        """The spec as :func:`parse_segmentation` reads it, e.g. ``"vad:3:1.5"``."""
        return f"{self.mode}:{self.length_s:g}:{self.hop:g}"


def parse_segmentation(text: str | Segmentation) -> Segmentation:
    """``MODE[:LENGTH[:HOP]]`` (seconds) as a :class:`Segmentation`; MODE is vad, energy or window.

    >>> parse_segmentation("window:3:1.5").describe(), parse_segmentation("vad").describe()
    ('window:3:1.5', 'vad:3:1.5')
    """
    if isinstance(text, Segmentation):
        return text
    if not isinstance(text, str):
        raise SegmentationError(f"segmentation must be text such as 'vad' or 'window:3:1.5', got {text!r}")
    mode, *numbers = text.strip().lower().split(":")
    if mode not in MODES or len(numbers) > 2:
        raise SegmentationError(f"cannot read segmentation {text!r}: expected MODE[:LENGTH[:HOP]] with MODE one of "
                                f"{', '.join(MODES)}, e.g. 'vad' or 'window:3:1.5'")
    try:
        values = [float(number) for number in numbers]
    except ValueError:
        raise SegmentationError(f"cannot read segmentation {text!r}: LENGTH and HOP are seconds") from None
    length = values[0] if values else SEGMENT_LENGTH_S
    return Segmentation(mode=mode, length_s=length, hop_s=values[1] if len(values) > 1 else None)


# ----------------------------------------------------------------------------- pure functions


def hysteresis(scores: np.ndarray, on: float, off: float) -> np.ndarray:
    """Active frames: a run starts where a score reaches ``on`` and lasts while scores stay above ``off``.

    >>> hysteresis(np.array([0.1, 0.6, 0.4, 0.2, 0.4, 0.7]), 0.5, 0.3).astype(int).tolist()
    [0, 1, 1, 0, 0, 1]
    """
    active = np.zeros(len(scores), dtype=bool)
    state = False
    for index, score in enumerate(np.asarray(scores, dtype=np.float64)):
        state = score >= on if not state else score > off
        active[index] = state
    return active


def runs(active: np.ndarray) -> list[tuple[int, int]]:
    """``[(first, end), ...]`` frame ranges (end exclusive) of consecutive ``True`` values.

    >>> runs(np.array([0, 1, 1, 0, 1], dtype=bool))
    [(1, 3), (4, 5)]
    """
    padded = np.concatenate([[False], np.asarray(active, dtype=bool), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(start), int(end)) for start, end in zip(edges[::2], edges[1::2])]


def activity_regions(
    active: np.ndarray,
    frame_s: float,
    duration_s: float,
    *,
    min_silence_s: float,
    min_segment_s: float,
    pad_s: float,
) -> list[tuple[float, float]]:
    """Regions ``(start_s, end_s)`` of active frames (frame ``k`` spans ``[k, k+1) * frame_s``).

    Gaps shorter than ``min_silence_s`` are closed, regions shorter than
    ``min_segment_s`` dropped, the rest padded by ``pad_s`` each side (clipped to
    ``[0, duration_s]``) and merged where the padding makes them overlap.

    >>> activity_regions(np.array([0, 1, 1, 0, 1, 0, 0, 0, 0, 0]), 0.1, 1.0,
    ...                  min_silence_s=0.15, min_segment_s=0.25, pad_s=0.05)
    [(0.05, 0.55)]
    """
    regions: list[list[float]] = []
    for first, end in runs(active):
        start_s, end_s = first * frame_s, end * frame_s
        if regions and start_s - regions[-1][1] < min_silence_s:
            regions[-1][1] = end_s
        else:
            regions.append([start_s, end_s])
    padded: list[tuple[float, float]] = []
    for start_s, end_s in regions:
        if end_s - start_s < min_segment_s:
            continue
        start_s, end_s = max(0.0, start_s - pad_s), min(duration_s, end_s + pad_s)
        if padded and start_s <= padded[-1][1]:
            start_s = padded.pop()[0]
        padded.append((round(start_s, 6), round(end_s, 6)))
    return padded


def windows(start_s: float, end_s: float, length_s: float, hop_s: float) -> list[tuple[float, float]]:
    """``[start_s, end_s]`` as windows of ``length_s`` every ``hop_s``, the last one ending at ``end_s``.

    A span no longer than ``length_s`` is one window.

    >>> windows(0.0, 7.0, 3.0, 1.5)
    [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0), (4.0, 7.0)]
    >>> windows(2.0, 3.5, 3.0, 1.5)
    [(2.0, 3.5)]
    """
    if end_s - start_s <= length_s + 1e-9:
        return [(start_s, end_s)]
    count = math.ceil((end_s - start_s - length_s) / hop_s - 1e-9)  # windows before the one at the end
    found = [(round(start_s + index * hop_s, 6), round(start_s + index * hop_s + length_s, 6)) for index in range(count)]
    return [*found, (round(end_s - length_s, 6), end_s)]


def owned_spans(segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The part of the timeline each segment (sorted by start) stands for, without double counting.

    Where two segments overlap, the boundary is midway between their centres, so
    overlapping windows split the time they share and each instant counts once.

    >>> owned_spans([(0.0, 3.0), (1.5, 4.5), (6.0, 7.0)])
    [(0.0, 2.25), (2.25, 4.5), (6.0, 7.0)]
    """
    owned = []
    for index, (start_s, end_s) in enumerate(segments):
        centre = (start_s + end_s) / 2
        if index > 0 and segments[index - 1][1] > start_s:
            start_s = max(start_s, (sum(segments[index - 1]) / 2 + centre) / 2)
        if index + 1 < len(segments) and segments[index + 1][0] < end_s:
            end_s = min(end_s, (centre + sum(segments[index + 1]) / 2) / 2)
        owned.append((start_s, max(start_s, end_s)))
    return owned


def energy_threshold_db(levels_db: np.ndarray, margin_db: float) -> float | None:
    """The level a frame needs to count as sound: halfway in dB between the noise floor and the loud frames.

    Floor: the 5th percentile of the frame levels; loud: the 99th.  The threshold is
    ``floor + max(margin_db, (loud - floor) / 2)``.  ``None`` when loud and floor are
    within ``margin_db`` (no silence to tell sound from: the whole recording is sound).

    >>> energy_threshold_db(np.array([-60.0] * 50 + [-20.0] * 50), 10.0)
    -40.0
    >>> energy_threshold_db(np.full(100, -30.0), 10.0) is None
    True
    """
    floor, loud = np.percentile(levels_db, [5, 99])
    if loud - floor < margin_db:
        return None
    return float(floor + max(margin_db, (loud - floor) / 2))


# ----------------------------------------------------------------------------- streaming


def read_blocks(path: str | os.PathLike[str], block_s: float = BLOCK_S) -> Iterator[tuple[np.ndarray, int]]:
    """The recording as consecutive mono float32 blocks of ``block_s`` seconds, with its sample rate."""
    try:
        handle = soundfile.SoundFile(os.fspath(path))
    except Exception as error:  # libsndfile raises several types for bad headers
        raise AudioError(f"unreadable audio: {str(error).strip().splitlines()[-1:] or type(error).__name__}") from None
    with handle:
        rate = int(handle.samplerate)
        for block in handle.blocks(blocksize=max(1, int(block_s * rate)), dtype="float32", always_2d=True):
            yield block.mean(axis=1, dtype=np.float32), rate


def read_span(path: str | os.PathLike[str], start: int, end: int) -> np.ndarray:
    """Samples ``[start, end)`` of the recording, mono float32 (only those are read)."""
    with soundfile.SoundFile(os.fspath(path)) as handle:
        handle.seek(start)
        return handle.read(end - start, dtype="float32", always_2d=True).mean(axis=1, dtype=np.float32)


def silero_model_path() -> str:
    """The ONNX model inside the installed ``silero-vad`` wheel (found without importing the package,
    whose import sets torch's thread count)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise SegmentationError("voice activity detection (--segment vad) needs silero-vad and onnxruntime: "
                                "pip install 'crossemo[predict]', or use --segment energy")
    path = os.path.join(next(iter(spec.submodule_search_locations)), "data", "silero_vad.onnx")
    if not os.path.isfile(path):
        raise SegmentationError(f"the installed silero-vad has no ONNX model at {path}; reinstall silero-vad")
    return path


class FrameScorer:
    """Per-frame scores of a recording fed block by block: speech probability (vad) or level in dB (energy).

    State carried across blocks: the high-pass filter's, the resampler's (vad at rates
    other than 8 or 16 kHz), the Silero model's recurrent state and context, and the
    samples of an unfinished frame.  ``frame_s`` is the frame length in seconds.
    """

    def __init__(self, mode: str, sample_rate: int) -> None:
        if mode not in ("vad", "energy"):
            raise SegmentationError(f"no frame scores for mode {mode!r}")
        self.mode = mode
        self.sample_rate = int(sample_rate)
        self._high_pass = sps.butter(2, HIGH_PASS_HZ, btype="highpass", fs=self.sample_rate, output="sos")
        self._high_pass_state: np.ndarray | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._scores: list[np.ndarray] = []
        if mode == "energy":
            self.rate = self.sample_rate
            self.frame = max(1, round(ENERGY_FRAME_S * self.sample_rate))
        else:
            self._open_vad()
        self.frame_s = self.frame / self.rate

    def _open_vad(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = options.intra_op_num_threads = 1  # one stream of 32 ms frames
        self._session = onnxruntime.InferenceSession(silero_model_path(), sess_options=options,
                                                     providers=["CPUExecutionProvider"])
        self.rate = self.sample_rate if self.sample_rate in VAD_RATES else 16000
        self.frame = VAD_FRAME[self.rate]
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(VAD_CONTEXT[self.rate], dtype=np.float32)
        self._consumed = 0  # input samples seen by the resampler
        self._produced = 0  # resampled samples given out
        self._last = np.zeros(1, dtype=np.float32)
        self._anti_alias = None
        self._anti_alias_state: np.ndarray | None = None
        if self.sample_rate > self.rate:
            self._anti_alias = sps.butter(8, 0.45 * self.rate, fs=self.sample_rate, output="sos")

    def feed(self, block: np.ndarray) -> None:
        """Score the complete frames ``block`` (mono float32) finishes."""
        block = np.asarray(block, dtype=np.float64)
        if block.size == 0:
            return
        if not np.all(np.isfinite(block)):
            raise AudioError("corrupt audio: non-finite samples")
        if self._high_pass_state is None:  # start settled on the first sample: a DC offset gives no transient
            self._high_pass_state = sps.sosfilt_zi(self._high_pass) * block[0]
        filtered, self._high_pass_state = sps.sosfilt(self._high_pass, block, zi=self._high_pass_state)
        if self.mode == "vad":
            filtered = self._resample(filtered)
        samples = np.concatenate([self._pending, filtered.astype(np.float32)])
        complete = samples.size // self.frame * self.frame
        self._pending = samples[complete:]
        if complete:
            frames = samples[:complete].reshape(-1, self.frame)
            self._scores.append(self._levels(frames) if self.mode == "energy" else self._speech(frames))

    def scores(self) -> np.ndarray:
        """Scores of every complete frame so far (a last partial frame is not scored)."""
        return np.concatenate(self._scores) if self._scores else np.zeros(0)

    @staticmethod
    def _levels(frames: np.ndarray) -> np.ndarray:
        return 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)

    def _speech(self, frames: np.ndarray) -> np.ndarray:
        probabilities = np.empty(len(frames))
        rate = np.array(self.rate, dtype=np.int64)
        for index, frame in enumerate(frames):
            window = np.concatenate([self._context, frame])[None, :]
            output, self._state = self._session.run(None, {"input": window, "state": self._state, "sr": rate})
            probabilities[index] = float(output[0, 0])
            self._context = frame[-self._context.size:]
        return probabilities

    def _resample(self, block: np.ndarray) -> np.ndarray:
        """``block`` at the model's rate: anti-alias low-pass (stateful), then linear interpolation
        at the output instants ``j * sample_rate / rate`` the block reaches (the previous block's
        last sample carried, so instants between blocks are interpolated too)."""
        if self.rate == self.sample_rate:
            return block
        if self._anti_alias is not None:
            if self._anti_alias_state is None:
                self._anti_alias_state = sps.sosfilt_zi(self._anti_alias) * block[0]
            block, self._anti_alias_state = sps.sosfilt(self._anti_alias, block, zi=self._anti_alias_state)
        known = np.concatenate([self._last, block])  # input sample indices consumed-1 .. consumed+len-1
        last_index = self._consumed + block.size - 1
        count = math.floor(last_index * self.rate / self.sample_rate) + 1 - self._produced
        instants = (self._produced + np.arange(max(count, 0))) * (self.sample_rate / self.rate)
        output = np.interp(instants, np.arange(self._consumed - 1, last_index + 1), known)
        self._produced += max(count, 0)
        self._consumed += block.size
        self._last = block[-1:]
        return output


@dataclass(frozen=True, eq=False)
class Detection:
    """What a pass over a recording found: its length, sample rate, segments (seconds) and envelope.

    """

    frames: int
    sample_rate: int
    segments: tuple[tuple[float, float], ...]

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def detect_segments(path: str | os.PathLike[str], segmentation: Segmentation, *, block_s: float = BLOCK_S) -> Detection:
    """The segments of the recording at ``path``, read block by block (memory flat with duration).

    Raises :class:`~crossemo.audio.AudioError` for a file that cannot be read, holds
    non-finite samples or is silent (no sample above -80 dBFS, or none varying that much).
    """
    from crossemo.audio import SILENCE_PEAK

    scorer: FrameScorer | None = None
    frames, rate, low, high = 0, 0, math.inf, -math.inf
    for block, rate in read_blocks(path, block_s):
        frames += block.size
        if block.size:
            low, high = min(low, float(block.min())), max(high, float(block.max()))
        if segmentation.mode != "window":
            scorer = scorer or FrameScorer(segmentation.mode, rate)
            scorer.feed(block)
    peak = max(abs(low), abs(high)) if frames else 0.0
    if frames == 0:
        raise AudioError("empty audio: no samples")
    if peak < SILENCE_PEAK or (high - low) / 2 < SILENCE_PEAK:
        raise AudioError("silent audio: no variation above -80 dBFS")
    duration_s = frames / rate
    if duration_s <= segmentation.length_s or scorer is None:
        spans = windows(0.0, duration_s, segmentation.length_s, segmentation.hop)
        return Detection(frames, rate, tuple(spans))
    scores = scorer.scores()
    if segmentation.mode == "vad":
        on = 0.5 if segmentation.threshold is None else segmentation.threshold
        active = hysteresis(scores, on, on - 0.15)
    else:
        margin = 10.0 if segmentation.threshold is None else segmentation.threshold
        threshold = energy_threshold_db(scores, margin)
        active = np.ones(len(scores), dtype=bool) if threshold is None else hysteresis(scores, threshold,
                                                                                       threshold - 3.0)
    regions = activity_regions(active, scorer.frame_s, duration_s, min_silence_s=segmentation.min_silence_s,
                               min_segment_s=segmentation.min_segment_s, pad_s=segmentation.pad_s)
    spans = [span for start_s, end_s in regions for span in windows(start_s, end_s, segmentation.length_s,
                                                                    segmentation.hop)]
    return Detection(frames, rate, tuple(spans))


def waveform_envelope(path: str | os.PathLike[str], *, bin_s: float = ENVELOPE_S,
                      block_s: float = BLOCK_S) -> tuple[np.ndarray, float]:
    """Lowest and highest sample per ``bin_s`` seconds of the recording (read in blocks), and the bin length.

    The envelope is an array of shape ``(bins, 2)``: a DC offset shows as such.
    """
    bins: list[np.ndarray] = []
    pending = np.zeros(0, dtype=np.float32)
    step, rate = 1, 0
    for block, rate in read_blocks(path, block_s):
        step = max(1, round(bin_s * rate))
        pending = np.concatenate([pending, block])
        complete = pending.size // step * step
        shaped = pending[:complete].reshape(-1, step)
        bins.append(np.stack([shaped.min(axis=1), shaped.max(axis=1)], axis=1))
        pending = pending[complete:]
    if pending.size:
        bins.append(np.array([[pending.min(), pending.max()]], dtype=np.float32))
    envelope = np.concatenate(bins) if bins else np.zeros((0, 2), dtype=np.float32)
    return envelope, (step / rate if rate else bin_s)
