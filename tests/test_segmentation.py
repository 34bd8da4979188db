"""Segmentation of long recordings: sound and speech found in generated signals, block by block."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import soundfile

from crossemo.audio import AudioError
from crossemo.segmentation import (
    Segmentation,
    SegmentationError,
    detect_segments,
    parse_segmentation,
    waveform_envelope,
    windows,
)

SAMPLE_RATE = 16_000
TOLERANCE_S = 0.05
DC_OFFSET = 0.2
NOISE_FLOOR = 0.003  # about -50 dBFS
WHOLE = {"length_s": 6.0, "hop_s": 6.0}  # shorter than the files, longer than any of their sounds

needs_silero = pytest.mark.skipif(
    importlib.util.find_spec("silero_vad") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="silero-vad and onnxruntime (the 'predict' extra) are not installed",
)


def bursts_and_tones(path, *, sample_rate=SAMPLE_RATE, seed=0):
    """Tones and white-noise bursts separated by silence, over a noise floor and a DC offset; their spans."""
    rng = np.random.default_rng(seed)
    spans = [(0.8, 2.1), (2.9, 3.5), (4.4, 7.9), (8.6, 9.2), (10.3, 11.0)]
    signal = DC_OFFSET + NOISE_FLOOR * rng.standard_normal(int(12 * sample_rate))
    for index, (start_s, end_s) in enumerate(spans):
        first, last = int(start_s * sample_rate), int(end_s * sample_rate)
        time = np.arange(last - first) / sample_rate
        if index % 2:
            signal[first:last] += 0.15 * rng.standard_normal(last - first)
        else:
            signal[first:last] += 0.3 * np.sin(2 * np.pi * (220 + 110 * index) * time)
    soundfile.write(path, signal.astype(np.float32), sample_rate, subtype="FLOAT")
    return spans


def speech(path, *, seed=0):
    """Synthetic utterances (crossemo.synth's source-filter voice) separated by silence, with a noise floor and
    a DC offset; each utterance's span from its first to its last sample above 2 % of its peak."""
    from crossemo.synth.languages import DEFAULT_LANGUAGES, LANGUAGES, make_speakers
    from crossemo.synth.utterance import make_studio, render_utterance

    rng = np.random.default_rng(seed)
    language = LANGUAGES[DEFAULT_LANGUAGES[0]]
    studio = make_studio(language, sample_rate=SAMPLE_RATE, seed=seed)
    speakers = make_speakers(language, 2, seed=seed)
    parts, spans, length = [], [], 0
    for index, emotion in enumerate(["neutral", "angry", "sad", "happy", "angry"]):
        gap = np.zeros(int(rng.uniform(0.8, 1.4) * SAMPLE_RATE))
        utterance = render_utterance(language, speakers[index % 2], emotion, rng=rng, studio=studio)
        loud = np.flatnonzero(np.abs(utterance) > 0.02 * np.abs(utterance).max())
        length += gap.size
        spans.append(((length + loud[0]) / SAMPLE_RATE, (length + loud[-1]) / SAMPLE_RATE))
        parts += [gap, utterance]
        length += utterance.size
    parts.append(np.zeros(SAMPLE_RATE))
    signal = np.concatenate(parts)
    signal += DC_OFFSET + 0.001 * rng.standard_normal(signal.size)
    soundfile.write(path, signal.astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    return spans


@pytest.mark.parametrize("sample_rate", [16_000, 44_100])
def test_energy_finds_tones_and_bursts_within_50_ms(tmp_path, sample_rate):
    path = tmp_path / "bursts.wav"
    truth = bursts_and_tones(path, sample_rate=sample_rate)
    # Blocks of 0.7 s end inside every burst: the filters' state and the open frame must carry over.
    found = detect_segments(path, Segmentation("energy", **WHOLE), block_s=0.7).segments
    assert len(found) == len(truth), found
    for (start_s, end_s), (true_start, true_end) in zip(found, truth):
        assert abs(start_s - true_start) <= TOLERANCE_S and abs(end_s - true_end) <= TOLERANCE_S, (found, truth)


def test_blocks_do_not_change_what_is_found(tmp_path):
    path = tmp_path / "bursts.wav"
    bursts_and_tones(path, seed=1)
    segmentation = Segmentation("energy", **WHOLE)
    assert detect_segments(path, segmentation, block_s=0.37).segments == detect_segments(path, segmentation).segments


def test_long_sound_becomes_overlapping_windows_of_the_length(tmp_path):
    path = tmp_path / "bursts.wav"
    truth = bursts_and_tones(path)
    found = detect_segments(path, Segmentation("energy", length_s=1.0, hop_s=0.5)).segments
    assert max(end - start for start, end in found) == pytest.approx(1.0)
    inside = [(start, end) for start, end in found if start >= truth[2][0] - 0.1 and end <= truth[2][1] + 0.1]
    assert len(inside) == len(windows(*inside[0][:1], inside[-1][1], 1.0, 0.5)) >= 6
    assert all(later[0] - earlier[0] <= 0.5 + 1e-6 for earlier, later in zip(inside, inside[1:]))


@needs_silero
def test_vad_finds_speech_onsets_within_50_ms_despite_dc_and_noise(tmp_path):
    path = tmp_path / "speech.wav"
    truth = speech(path)
    found = detect_segments(path, Segmentation("vad", **WHOLE), block_s=1.3).segments
    for true_start, true_end in truth:
        mine = [(start, end) for start, end in found if start < true_end and end > true_start]
        assert mine, f"utterance {true_start:.2f}-{true_end:.2f} s not found in {found}"
        assert abs(mine[0][0] - true_start) <= TOLERANCE_S, (mine, true_start)
        # Silero keeps its speech state for a moment after the voice stops: ends come up to 0.3 s late.
        assert true_end - TOLERANCE_S <= mine[-1][1] <= true_end + 0.3, (mine, true_end)
    assert all(any(start < end_t and end > start_t for start_t, end_t in truth) for start, end in found)


@needs_silero
def test_vad_does_not_take_tones_and_noise_for_speech(tmp_path):
    path = tmp_path / "bursts.wav"
    truth = bursts_and_tones(path)
    found = detect_segments(path, Segmentation("vad", **WHOLE)).segments
    # At most the click of an abrupt tone onset passes for a syllable: not the tones and bursts themselves.
    assert sum(end - start for start, end in found) < 0.1 * sum(end - start for start, end in truth), found
    assert all(end - start < 0.5 for start, end in found), found


@needs_silero
def test_vad_resamples_other_rates(tmp_path):
    from scipy.signal import resample_poly

    path = tmp_path / "speech.wav"
    truth = speech(path, seed=2)
    signal, _ = soundfile.read(path, dtype="float32")
    resampled = tmp_path / "speech44k.wav"
    soundfile.write(resampled, resample_poly(signal, 441, 160).astype(np.float32), 44_100, subtype="FLOAT")
    found = detect_segments(resampled, Segmentation("vad", **WHOLE), block_s=2.1).segments
    starts = [min((start for start, end in found if start < t_end and end > t_start), default=np.inf)
              for t_start, t_end in truth]
    assert np.allclose(starts, [start for start, _ in truth], atol=TOLERANCE_S), (found, truth)


def test_windows_cover_the_file_and_end_with_it(tmp_path):
    path = tmp_path / "bursts.wav"
    bursts_and_tones(path)
    found = detect_segments(path, parse_segmentation("window:3:1.5")).segments
    assert found[0] == (0.0, 3.0) and found[-1] == (9.0, 12.0)
    assert {round(end - start, 6) for start, end in found} == {3.0}


def test_a_recording_no_longer_than_the_length_is_one_whole_segment(tmp_path):
    path = tmp_path / "short.wav"
    soundfile.write(path, 0.1 * np.sin(np.arange(40_000) / 10).astype(np.float32), SAMPLE_RATE)
    for mode in ("energy", "window"):
        detection = detect_segments(path, Segmentation(mode))
        assert detection.segments == ((0.0, 2.5),) and detection.frames == 40_000


def test_silent_and_dc_only_recordings_are_refused(tmp_path):
    for name, value in (("silent.wav", 0.0), ("dc.wav", 0.3)):
        soundfile.write(tmp_path / name, np.full(SAMPLE_RATE * 5, value, dtype=np.float32), SAMPLE_RATE,
                        subtype="FLOAT")
        with pytest.raises(AudioError, match="silent"):
            detect_segments(tmp_path / name, Segmentation("energy"))
    (tmp_path / "garbage.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="unreadable"):
        detect_segments(tmp_path / "garbage.wav", Segmentation("energy"))


def test_envelope_keeps_the_dc_offset(tmp_path):
    path = tmp_path / "bursts.wav"
    bursts_and_tones(path)
    envelope, bin_s = waveform_envelope(path, bin_s=0.1, block_s=0.33)
    assert envelope.shape == (120, 2) and bin_s == pytest.approx(0.1)
    quiet = envelope[:7]  # before the first tone
    assert np.all(quiet[:, 0] > DC_OFFSET - 0.05) and np.all(quiet[:, 1] < DC_OFFSET + 0.05)
    assert envelope[10, 1] > DC_OFFSET + 0.25  # the first tone


@pytest.mark.parametrize("text", ["vod", "window:x", "window:3:4", "window:0.1", "vad:3:0", "energy:1:2:3"])
def test_malformed_specs_are_refused_by_name(text):
    with pytest.raises(SegmentationError, match="segment"):
        parse_segmentation(text)
