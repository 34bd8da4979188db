"""The source-filter voice: glottal source, aspiration and frication noise, time-varying vocal tract.

A glottal flow pulse train (Rosenberg shape: raised-cosine opening, quarter
cosine closing) driven by an F0 contour, with per-cycle jitter (period) and
shimmer (amplitude) and optional period doubling (creak); its derivative
(glottal source plus lip radiation) excites a cascade of five second-order
formant resonators whose frequencies glide between segment targets.
Aspiration noise (breathiness, /h/, stop aspiration) enters at the glottis
and is shaped by the same tract; frication and stop bursts are band-pass
noise added at the mouth.  A one-pole low-pass sets the spectral tilt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import signal as sps

from crossemo.synth.emotions import EmotionProfile
from crossemo.synth.languages import CONSONANTS, Speaker
from crossemo.synth.timeline import _Segment

BLOCK_S = 0.01
"""Time step at which the formant filters are updated."""

UPPER_FORMANTS: tuple[float, float] = (3500.0, 4500.0)
"""F4 and F5 of the reference (adult male) vocal tract."""

FORMANT_BANDWIDTHS: tuple[float, ...] = (70.0, 90.0, 140.0, 220.0, 300.0)


@dataclass(frozen=True)
class Studio:
    """What stays fixed across one language's recordings at one sample rate."""

    sample_rate: int
    room: np.ndarray | None
    """Impulse response of the recording room (unit energy), ``None`` for a dry recording."""
    highpass: np.ndarray
    lowpass: np.ndarray | None
    frication: Mapping[str, np.ndarray]
    """Consonant symbol -> band-pass (second-order sections) shaping its frication or burst noise."""


def _render_segments(
    segments: list[_Segment],
    speaker: Speaker,
    expression: EmotionProfile,
    *,
    studio: Studio,
    rng: np.random.Generator,
) -> np.ndarray:
    """The dry voice for a timeline, normalized so that vowels have unit RMS before frication."""
    sample_rate = studio.sample_rate
    durations = np.array([segment.duration_s for segment in segments])
    edges = np.round(np.concatenate([[0.0], np.cumsum(durations)]) * sample_rate).astype(int)
    lengths = np.diff(edges)
    n = int(edges[-1])
    starts_s = edges[:-1] / sample_rate
    kinds = [segment.kind for segment in segments]

    def track(values: Sequence[float]) -> np.ndarray:
        return np.repeat(np.asarray(values, dtype=float), lengths)

    effort = speaker.effort + expression.effort + rng.normal(0, 0.15)
    breathiness = speaker.breathiness * expression.breathiness * rng.lognormal(0, 0.25)

    # Excitation: glottal pulses under a smoothed voicing envelope, plus aspiration noise.
    voicing = _smooth(track([segment.voicing for segment in segments]), expression.onset_ms / 1000, sample_rate)
    f0 = _f0_track(segments, starts_s, speaker, expression, n=n, sample_rate=sample_rate, rng=rng)
    flow, flow_derivative = _glottal_source(
        f0,
        open_quotient=float(np.clip(speaker.open_quotient - 0.12 * effort, 0.3, 0.85)),
        closing_fraction=float(np.clip(0.3 - 0.1 * effort, 0.1, 0.5)),
        jitter=speaker.jitter * expression.jitter,
        shimmer=speaker.shimmer * expression.shimmer,
        creak=speaker.creak + expression.creak,
        sample_rate=sample_rate,
        rng=rng,
    )
    voiced = voicing > 0.5
    flow_derivative /= np.sqrt(np.mean(flow_derivative[voiced] ** 2)) if voiced.any() else 1.0
    aspiration = _smooth(track([0.35 if kind == "aspiration" else 0.0 for kind in kinds]), 0.005, sample_rate)
    noise = rng.standard_normal(n)
    excitation = voicing * flow_derivative + noise * (aspiration + breathiness * voicing * (0.4 + 0.6 * flow))

    # Vocal tract: formant glides between segment targets, updated every block.
    voice = _vocal_tract(
        excitation,
        _formant_tracks(segments, starts_s, speaker, effort, n=n, sample_rate=sample_rate),
        bandwidth_scale=1 + 2.0 * breathiness,
        sample_rate=sample_rate,
    )
    vowel_samples = track([kind == "vowel" for kind in kinds]) > 0.5
    voice /= max(np.sqrt(np.mean(voice[vowel_samples] ** 2)), 1e-12)

    # Frication and bursts at the mouth, louder with vocal effort.
    frication_gain = 10 ** (0.2 * effort)
    for segment, start, length in zip(segments, edges[:-1], lengths, strict=True):
        if segment.kind in ("fricative", "burst") and length > 0:
            noise = sps.sosfilt(studio.frication[segment.symbol], rng.standard_normal(length))
            if segment.kind == "burst":  # a transient: twice as strong, decaying
                envelope = 2.0 * np.exp(-np.arange(length) / max(length / 3, 1))
            else:
                envelope = _ramps(length, int(0.01 * sample_rate))
            gain = frication_gain * CONSONANTS[segment.symbol].noise_gain
            voice[start : start + length] += gain * envelope * noise

    # Spectral tilt: lax voices lose high frequencies, pressed ones keep them.
    pole = float(np.clip(0.5 - 0.3 * effort, 0.0, 0.9))
    return sps.lfilter([1 - pole], [1, -pole], voice)


def _f0_track(
    segments: list[_Segment],
    starts_s: np.ndarray,
    speaker: Speaker,
    expression: EmotionProfile,
    *,
    n: int,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """F0 in Hz per sample: vowel pitch targets joined linearly, smoothed, with slow drift."""
    times, pitches = [], []
    for segment, start in zip(segments, starts_s, strict=True):
        if segment.f0_st is not None:
            times += [start, start + segment.duration_s]
            pitches += list(segment.f0_st)
    time = np.arange(n) / sample_rate
    semitones = np.interp(time, times, pitches)
    # Slow random pitch drift: white noise at 20 Hz, interpolated.
    knots = int(time[-1] * 20) + 2
    drift = np.interp(time, np.arange(knots) / 20, rng.normal(0, 0.25, knots))
    semitones = _smooth(semitones, 0.03, sample_rate) + drift
    level_st = expression.f0_shift_st + rng.normal(0, 1.0)
    return speaker.f0_hz * 2 ** ((semitones + level_st) / 12)


def _glottal_source(
    f0: np.ndarray,
    *,
    open_quotient: float,
    closing_fraction: float,
    jitter: float,
    shimmer: float,
    creak: float,
    sample_rate: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg glottal flow (peak 1) and its derivative for an F0 track.

    Jitter perturbs each cycle's period, shimmer its amplitude (log-normal),
    creak alternates the amplitude of successive cycles.  The opening phase
    takes ``(1 - closing_fraction)`` of the open quotient, the closing phase
    the rest: a short closing phase means an abrupt closure, a flat spectrum.
    """
    nominal_phase = np.cumsum(f0) / sample_rate
    cycles = int(nominal_phase[-1]) + 2
    period_factor = np.clip(1 + jitter * rng.standard_normal(cycles), 0.7, 1.3)
    phase = np.cumsum(f0 / period_factor[nominal_phase.astype(int)]) / sample_rate
    cycle = phase.astype(int)
    within = phase - cycle
    opening = open_quotient * (1 - closing_fraction)
    closing = open_quotient * closing_fraction
    flow = np.where(
        within < opening,
        0.5 * (1 - np.cos(np.pi * within / opening)),
        np.where(within < open_quotient, np.cos(0.5 * np.pi * (within - opening) / closing), 0.0),
    )
    count = int(cycle[-1]) + 1
    amplitude = np.exp(shimmer * rng.standard_normal(count)) * (1 + creak * (-1.0) ** np.arange(count))
    flow *= amplitude[cycle]
    return flow, np.diff(flow, prepend=flow[0])


def _formant_tracks(
    segments: list[_Segment],
    starts_s: np.ndarray,
    speaker: Speaker,
    effort: float,
    *,
    n: int,
    sample_rate: int,
) -> np.ndarray:
    """Formant frequencies (blocks x 5) at block centres: targets held mid-segment, linear glides."""
    times, targets = [], []
    for segment, start in zip(segments, starts_s, strict=True):
        if segment.formants is not None:
            hold = (0.25, 0.75) if segment.kind == "vowel" else (0.5,)
            times += [start + fraction * segment.duration_s for fraction in hold]
            targets += [segment.formants] * len(hold)
    block = max(int(BLOCK_S * sample_rate), 1)
    centres = (np.arange(0, n, block) + block / 2) / sample_rate
    targets_array = np.asarray(targets)
    lower = np.stack([np.interp(centres, times, targets_array[:, k]) for k in range(3)], axis=1)
    lower[:, 0] *= 1 + 0.06 * effort  # wider jaw opening with effort raises F1
    upper = np.broadcast_to(UPPER_FORMANTS, (centres.size, 2))
    return np.concatenate([lower, upper], axis=1) * speaker.tract_scale


def _vocal_tract(
    excitation: np.ndarray, formants: np.ndarray, *, bandwidth_scale: float, sample_rate: int
) -> np.ndarray:
    """Filter ``excitation`` through cascaded unity-gain resonators whose formants change per block.

    Each block of excitation (``formants`` has one row per block) is convolved
    with the impulse response of its own cascade, computed in the frequency
    domain, and the ringing tails are overlap-added: a linear time-varying
    filter without a Python loop over blocks.  The FFT spans six blocks, long
    enough for the narrowest formant's ringing to decay (> 60 dB).
    """
    block = max(int(BLOCK_S * sample_rate), 1)
    span = 6 * block
    n_blocks = formants.shape[0]
    blocks = np.zeros((n_blocks, block))
    blocks.reshape(-1)[: excitation.size] = excitation
    bandwidths = np.asarray(FORMANT_BANDWIDTHS) * np.array(
        [bandwidth_scale, 1 + 0.3 * (bandwidth_scale - 1), 1.0, 1.0, 1.0]
    )
    radius = np.exp(-np.pi * bandwidths / sample_rate)
    feedback_1 = 2 * radius * np.cos(2 * np.pi * formants / sample_rate)  # blocks x formants
    feedback_2 = np.broadcast_to(-(radius**2), formants.shape)
    audible = formants < 0.45 * sample_rate  # formants near Nyquist are left out rather than aliased
    feedback_1, feedback_2 = np.where(audible, feedback_1, 0.0), np.where(audible, feedback_2, 0.0)
    # The cascade is gain / A(z), A the product of the sections' denominators 1 - f1 z^-1 - f2 z^-2.
    denominator = np.zeros((n_blocks, 2 * formants.shape[1] + 1))
    denominator[:, 0] = 1.0
    for k in range(formants.shape[1]):
        shifted_1 = np.roll(denominator, 1, axis=1)
        shifted_2 = np.roll(denominator, 2, axis=1)
        shifted_1[:, 0] = 0.0
        shifted_2[:, :2] = 0.0
        denominator = denominator - feedback_1[:, k, None] * shifted_1 - feedback_2[:, k, None] * shifted_2
    gain = np.prod(1 - feedback_1 - feedback_2, axis=1)
    response = gain[:, None] / scipy.fft.rfft(denominator, n=span, axis=1)
    ringing = scipy.fft.irfft(scipy.fft.rfft(blocks, n=span, axis=1) * response, n=span, axis=1)
    output = np.zeros((n_blocks + 5) * block)
    for offset in range(6):  # block i's ringing lands on output blocks i .. i + 5
        tail = ringing[:, offset * block : (offset + 1) * block]
        output[offset * block : (offset + n_blocks) * block] += tail.reshape(-1)
    return output[: excitation.size]


def _band_pass(centre_hz: float, bandwidth_hz: float, sample_rate: int) -> np.ndarray:
    """Second-order Butterworth band-pass around ``centre_hz``, kept below Nyquist."""
    nyquist = sample_rate / 2
    low = max(centre_hz - bandwidth_hz / 2, 100.0)
    high = min(centre_hz + bandwidth_hz / 2, 0.95 * nyquist)
    if low >= high:
        low = 0.5 * high
    return sps.butter(2, [low, high], btype="bandpass", fs=sample_rate, output="sos")


def _ramps(length: int, ramp: int) -> np.ndarray:
    """An envelope of ``length`` samples rising and falling over ``ramp`` samples (raised cosine)."""
    envelope = np.ones(length)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        rise = 0.5 * (1 - np.cos(np.pi * np.arange(ramp) / ramp))
        envelope[:ramp] = rise
        envelope[length - ramp :] = rise[::-1]
    return envelope


def _smooth(values: np.ndarray, time_constant_s: float, sample_rate: int) -> np.ndarray:
    """Zero-phase one-pole smoothing (forward then backward) with the given time constant."""
    pole = np.exp(-1 / max(time_constant_s * sample_rate, 1e-6))
    forward = sps.lfilter([1 - pole], [1, -pole], values)
    return sps.lfilter([1 - pole], [1, -pole], forward[::-1])[::-1]
