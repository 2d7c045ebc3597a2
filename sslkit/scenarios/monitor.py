"""Streaming surge detection: planted-surge streams, EWMA and CUSUM charts, calibration, metrics.

    streams = make_streams(is_negative, n_streams=200, length=400, surge_start=250, surge_length=60,
                           intensity=2.5, per_step=20, seed=0)      # item indices (n, T, m)
    x = step_rates(streams, predicted_negative)                     # (n, T): fraction flagged per step
    det = CUSUM(mu0=0.2, k=0.05)
    h = calibrate(det, null_x, false_alarm_prob=0.05)               # threshold from surge-free streams
    stat, alarm = run(det, x, h)                                     # statistic and alarms, (n, T) each
    m = detection_metrics(alarm, streams.surge_start, streams.surge_length)

    exp = make_experiment(ref_is_negative, is_negative, intensity=2.5, seed=0)  # the three sets of streams
    r = evaluate_monitor(exp, ref_predicted_negative, predicted_negative, "cusum")  # all of the above

A *stream* is a time-ordered sequence of labelled items drawn (with replacement) from a held-out
pool: ``per_step`` items arrive at every step, each negative with probability p_t, where p_t is the
pool's base rate p0 outside the surge and ``intensity * p0`` inside the planted window
[surge_start, surge_start + surge_length). What a monitor sees at step t is x_t, the fraction of that
step's items flagged negative: by the labels themselves, or by a classifier (its predictions).

Detectors (one-sided, upward: they look for *more* negatives than normal, mu0):

- EWMA (Roberts 1959, "Control chart tests based on geometric moving averages"):
  z_t = lam * x_t + (1 - lam) * z_{t-1}, z_{-1} = mu0; the textbook alarm is z_t > mu0 + L sigma
  sqrt(lam / (2 - lam)) (:func:`ewma_limit`), sigma the standard deviation of x_t in control.
- CUSUM (Page 1954, "Continuous inspection schemes"):
  S_t = max(0, S_{t-1} + x_t - mu0 - k), S_{-1} = 0; alarm when S_t > h. ``k`` is the slack (about
  half the shift one wants to detect), ``h`` the decision interval.

After an alarm a chart restarts (z back to mu0, S back to 0), as an operator would after
acknowledging it, so a persistent surge raises repeated alarms and false alarms are countable events.

Thresholds: the normal-theory limit assumes Gaussian x_t; with a few Bernoulli items per step it is
off, so :func:`calibrate` picks the threshold empirically: the (1 - alpha) quantile, over simulated
surge-free streams of the monitored length, of the chart's largest value, so that a fraction alpha
of surge-free streams raises any alarm at all.

Metrics (:func:`detection_metrics`): detection delay = first alarm at or after the surge start minus
the surge start (steps; a stream counts as detected when that alarm comes within ``window`` steps);
false alarms per 1000 steps before the surge (or over a whole surge-free stream).
Everything is vectorised over streams with numpy: the time loop is T steps of (n,)-vector operations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sslkit.checks import check_choice, check_number, check_positive

__all__ = ["Streams", "make_streams", "step_rates", "EWMA", "CUSUM", "DETECTORS", "run", "ewma", "cusum",
           "ewma_limit", "binomial_sigma", "calibrate", "first_alarm", "detection_metrics", "false_alarm_rate",
           "Experiment", "make_experiment", "evaluate_monitor"]


# ------------------------------------------------------------------------------------ streams

@dataclass
class Streams:
    """``n`` streams of ``T`` steps with ``m`` items each: ``idx`` (n, T, m) indices into the pool,
    ``rate`` (T,) the planted probability that an item is negative at each step."""

    idx: np.ndarray
    rate: np.ndarray
    base_rate: float
    surge_start: int
    surge_length: int
    intensity: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.idx.shape

    def surge_mask(self) -> np.ndarray:
        """(T,) bool, True inside the planted surge."""
        t = np.arange(self.idx.shape[1])
        return (t >= self.surge_start) & (t < self.surge_start + self.surge_length)


def make_streams(is_negative, n_streams: int = 100, length: int = 400, surge_start: int = 250,
                 surge_length: int = 60, intensity: float = 2.5, per_step: int = 20,
                 base_rate: float | None = None, seed: int = 0) -> Streams:
    """Time-ordered streams from a labelled pool, with a planted surge of negatives.

    ``is_negative``: (N,) bool, the pool's labels (negative or not). At step t each of the
    ``per_step`` items is negative with probability p_t (p0 = ``base_rate``, by default the pool's
    negative fraction; ``intensity * p0`` for t in [surge_start, surge_start + surge_length)), then
    drawn uniformly from the pool's negatives or its other items. ``intensity=1`` or
    ``surge_length=0`` gives surge-free (stationary) streams. Returns :class:`Streams`.
    """
    neg = np.asarray(is_negative)
    if neg.ndim != 1 or neg.dtype != bool:
        raise ValueError(f"is_negative must be a 1-D bool array (one entry per pool item), "
                         f"got dtype {neg.dtype} and shape {neg.shape}")
    neg_pool, other_pool = np.flatnonzero(neg), np.flatnonzero(~neg)
    if len(neg_pool) == 0 or len(other_pool) == 0:
        raise ValueError(f"the pool needs negative and non-negative items, got {len(neg_pool)} negative "
                         f"and {len(other_pool)} others")
    check_positive("n_streams", n_streams)
    check_positive("length", length)
    check_positive("per_step", per_step)
    check_positive("surge_start", surge_start, allow_zero=True)
    check_positive("surge_length", surge_length, allow_zero=True)
    check_positive("seed", seed, allow_zero=True)
    if surge_start + surge_length > length:
        raise ValueError(f"the surge [{surge_start}, {surge_start + surge_length}) does not fit in a stream of "
                         f"length {length}")
    p0 = (len(neg_pool) / len(neg) if base_rate is None
          else check_number("base_rate", base_rate, 0, 1, low_open=True, high_open=True))
    intensity = check_number("intensity", intensity, 0, None, low_open=True)
    if intensity * p0 > 1:
        raise ValueError(f"intensity {intensity} times the base rate {p0:.3f} exceeds 1; the largest possible "
                         f"intensity here is {1 / p0:.2f}")
    rate = np.full(length, p0)
    rate[surge_start:surge_start + surge_length] = intensity * p0
    rng = np.random.default_rng(seed)
    shape = (n_streams, length, per_step)
    draw_neg = rng.random(shape) < rate[None, :, None]
    idx = np.where(draw_neg, neg_pool[rng.integers(len(neg_pool), size=shape)],
                   other_pool[rng.integers(len(other_pool), size=shape)])
    return Streams(idx, rate, p0, surge_start, surge_length, intensity)


def step_rates(streams: Streams | np.ndarray, flagged) -> np.ndarray:
    """x_t: the fraction of each step's items that ``flagged`` ((N,) bool or 0/1 over the pool: the labels,
    or a classifier's "negative" predictions) marks. Returns float (n, T)."""
    idx = streams.idx if isinstance(streams, Streams) else np.asarray(streams)
    f = np.asarray(flagged)
    if f.ndim != 1:
        raise ValueError(f"flagged must be 1-D (one entry per pool item), got shape {f.shape}")
    if idx.size and idx.max() >= len(f):
        raise ValueError(f"the streams index items up to {idx.max()} but flagged has only {len(f)} entries")
    return f.astype(float)[idx].mean(-1)


# ---------------------------------------------------------------------------------- detectors

@dataclass
class EWMA:
    """Exponentially weighted moving average chart (Roberts 1959).

    z_t = lam * x_t + (1 - lam) * z_{t-1}, started (and restarted after an alarm) at z = mu0.
    Small ``lam`` (0.05-0.2) averages over about 2/lam - 1 steps: slow but sensitive to small shifts.
    """

    mu0: float
    lam: float = 0.1

    def __post_init__(self):
        self.mu0 = check_number("mu0", self.mu0)
        self.lam = check_number("lam", self.lam, 0, 1, low_open=True)

    def start(self, n: int) -> np.ndarray:
        return np.full(n, self.mu0)

    def step(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self.lam * x + (1 - self.lam) * z


@dataclass
class CUSUM:
    """One-sided upper cumulative sum chart (Page 1954).

    S_t = max(0, S_{t-1} + x_t - mu0 - k), started (and restarted after an alarm) at S = 0. ``k``: the
    slack, about half the upward shift of the mean to detect; deviations below mu0 + k drain S.
    """

    mu0: float
    k: float = 0.05

    def __post_init__(self):
        self.mu0 = check_number("mu0", self.mu0)
        self.k = check_number("k", self.k, 0)

    def start(self, n: int) -> np.ndarray:
        return np.zeros(n)

    def step(self, s: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, s + x - self.mu0 - self.k)


DETECTORS = {"ewma": EWMA, "cusum": CUSUM}


def _as_2d(x) -> tuple[np.ndarray, bool]:
    a = np.asarray(x, dtype=float)
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise ValueError(f"x must be a sequence (T,) or a batch of sequences (n, T) with T >= 1, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("x contains nan or inf")
    return (a[None], True) if a.ndim == 1 else (a, False)


def run(detector: EWMA | CUSUM, x, threshold: float | None = None, reset: bool = True):
    """The detector's statistic over ``x`` ((T,) or (n, T)), and its alarms.

    An alarm at step t means statistic_t > ``threshold``; with ``reset`` the chart then restarts from
    its start value at t + 1. ``threshold=None``: no alarms, the plain recursion. Returns
    ``(statistic, alarms)`` of x's shape (alarms bool).
    """
    if not isinstance(detector, (EWMA, CUSUM)):
        raise ValueError(f"detector must be an EWMA or CUSUM, got {type(detector).__name__}")
    a, single = _as_2d(x)
    n, T = a.shape
    h = math.inf if threshold is None else check_number("threshold", threshold)
    stat, alarm = np.empty((n, T)), np.zeros((n, T), dtype=bool)
    s = detector.start(n)
    fresh = detector.start(n)
    for t in range(T):
        s = detector.step(s, a[:, t])
        stat[:, t] = s
        alarm[:, t] = s > h
        if reset:
            s = np.where(alarm[:, t], fresh, s)
    return (stat[0], alarm[0]) if single else (stat, alarm)


def ewma(x, lam: float, mu0: float) -> np.ndarray:
    """z_t = lam x_t + (1 - lam) z_{t-1}, z_{-1} = mu0, along the last axis of ``x`` (no alarms)."""
    return run(EWMA(mu0, lam), x)[0]


def cusum(x, mu0: float, k: float) -> np.ndarray:
    """S_t = max(0, S_{t-1} + x_t - mu0 - k), S_{-1} = 0, along the last axis of ``x`` (no alarms)."""
    return run(CUSUM(mu0, k), x)[0]


def binomial_sigma(p: float, per_step: int) -> float:
    """Standard deviation of the fraction of ``per_step`` Bernoulli(p) items: sqrt(p (1 - p) / m)."""
    p = check_number("p", p, 0, 1)
    check_positive("per_step", per_step)
    return math.sqrt(p * (1 - p) / per_step)


def ewma_limit(mu0: float, sigma: float, lam: float, L: float = 3.0, steps: int | None = None):
    """The EWMA chart's upper control limit mu0 + L sigma sqrt(lam / (2 - lam)) (Roberts 1959).

    That is L standard deviations of z_t in the long run, for independent x_t with standard deviation
    sigma. ``steps``: the exact, time-varying limit for t = 0..steps-1 instead, whose variance factor is
    lam / (2 - lam) * (1 - (1 - lam)^(2(t+1))) (narrower at the start, as z_{-1} = mu0 is known).
    """
    mu0, sigma = check_number("mu0", mu0), check_number("sigma", sigma, 0)
    lam, L = check_number("lam", lam, 0, 1, low_open=True), check_number("L", L, 0, low_open=True)
    var = lam / (2 - lam)
    if steps is None:
        return mu0 + L * sigma * math.sqrt(var)
    check_positive("steps", steps)
    t = np.arange(1, steps + 1)
    return mu0 + L * sigma * np.sqrt(var * (1 - (1 - lam) ** (2 * t)))


def calibrate(detector: EWMA | CUSUM, null_x, false_alarm_prob: float = 0.05) -> float:
    """The threshold h at which a fraction ``false_alarm_prob`` of surge-free streams raises any alarm.

    ``null_x`` (n, T): surge-free streams of the length to be monitored (e.g. from
    :func:`make_streams` with ``intensity=1``). The first alarm of a stream is the first t with
    statistic_t > h, whatever the reset rule, so P(any alarm) = P(max_t statistic_t > h), and h is the
    (1 - alpha) quantile of the streams' largest statistic. With ``n`` streams the resolution of alpha is
    1/n; use a few hundred. Check it on fresh surge-free streams (:func:`false_alarm_rate`), not these.
    """
    a, _ = _as_2d(null_x)
    alpha = check_number("false_alarm_prob", false_alarm_prob, 0, 1, low_open=True, high_open=True)
    if len(a) < math.ceil(1 / alpha):
        raise ValueError(f"false_alarm_prob={alpha} needs at least {math.ceil(1 / alpha)} surge-free streams to "
                         f"resolve, got {len(a)}")
    peaks = run(detector, a)[0].max(1)
    # 'higher': a threshold that the (1 - alpha) quantile itself does not cross (alarm is a strict >).
    return float(np.quantile(peaks, 1 - alpha, method="higher"))


# ------------------------------------------------------------------------------------ metrics

def first_alarm(alarms, start: int = 0) -> np.ndarray:
    """Index of the first alarm at or after ``start`` in each row of ``alarms`` ((T,) or (n, T) bool);
    -1 where there is none. Returns int (n,) (or a 0-d array for one sequence)."""
    a = np.asarray(alarms)
    if a.dtype != bool or a.ndim not in (1, 2):
        raise ValueError(f"alarms must be a bool array (T,) or (n, T), got dtype {a.dtype} and shape {a.shape}")
    check_positive("start", start, allow_zero=True)
    single = a.ndim == 1
    a = a[None] if single else a
    after = a[:, start:]
    hit = after.any(1)
    out = np.where(hit, after.argmax(1) + start, -1)
    return out[0] if single else out


def detection_metrics(alarms, surge_start: int, surge_length: int, window: int | None = None) -> dict:
    """Detection delay, detection rate and false alarms of alarm sequences with a surge at ``surge_start``.

    ``alarms`` (n, T) bool. A stream's *delay* is (first alarm at t >= surge_start) - surge_start; it
    counts as *detected* when delay < ``window`` (default ``surge_length``: during the surge).
    *False alarms* are alarms at t < surge_start, reported per 1000 pre-surge steps.
    Returns ``{"delays": float (n,) with nan where missed, "detection_rate", "median_delay",
    "mean_delay" (over detected streams; nan if none), "false_alarms_per_1000", "false_alarm_streams"
    (fraction of streams with an alarm before the surge), "n_streams"}``.
    """
    a = np.asarray(alarms)
    if a.dtype != bool or a.ndim != 2:
        raise ValueError(f"alarms must be a bool array (n_streams, T), got dtype {a.dtype} and shape {a.shape}")
    n, T = a.shape
    check_positive("surge_start", surge_start, allow_zero=True)
    check_positive("surge_length", surge_length)
    if surge_start >= T:
        raise ValueError(f"surge_start={surge_start} lies outside the streams' {T} steps")
    window = surge_length if window is None else check_positive("window", window)
    first = first_alarm(a, surge_start)
    delays = np.where(first >= 0, first - surge_start, np.inf).astype(float)
    detected = delays < window
    delays[~detected] = np.nan
    pre = a[:, :surge_start]
    return {
        "delays": delays,
        "detection_rate": float(detected.mean()),
        "median_delay": float(np.median(delays[detected])) if detected.any() else math.nan,
        "mean_delay": float(delays[detected].mean()) if detected.any() else math.nan,
        "false_alarms_per_1000": float(1000 * pre.mean()) if pre.size else math.nan,
        "false_alarm_streams": float(pre.any(1).mean()) if pre.size else math.nan,
        "n_streams": n,
    }


def false_alarm_rate(alarms) -> dict:
    """Alarms of surge-free streams ``alarms`` ((n, T) bool): ``{"per_1000_steps", "streams_with_alarm"}``."""
    a = np.asarray(alarms)
    if a.dtype != bool or a.ndim != 2 or a.size == 0:
        raise ValueError(f"alarms must be a non-empty bool array (n_streams, T), got dtype {a.dtype} "
                         f"and shape {a.shape}")
    return {"per_1000_steps": float(1000 * a.mean()), "streams_with_alarm": float(a.any(1).mean())}


# --------------------------------------------------------------------------------- end to end

@dataclass
class Experiment:
    """The three sets of streams of a monitoring experiment (same length, items per step, base rate):

    ``reference``: surge-free streams from the *reference* pool (held-out items from normal times),
    used to set mu0 and calibrate the threshold; ``quiet``: surge-free streams from the *monitored*
    pool, on which false alarms are counted; ``surge``: streams from the monitored pool with the
    planted surge, on which delays are measured. The streams hold item indices only, so every
    classifier (every set of predictions over the pools) is scored on exactly the same streams."""

    reference: Streams
    quiet: Streams
    surge: Streams


def make_experiment(ref_is_negative, is_negative, n_streams: int = 200, length: int = 400, surge_start: int = 250,
                    surge_length: int = 60, intensity: float = 2.0, per_step: int = 20, seed: int = 0) -> Experiment:
    """Streams for :func:`evaluate_monitor`. The base rate of every stream is the reference pool's
    negative fraction (the normal rate, as known from history); ``seed`` fixes all three sets.

    The same pool may be passed twice (notebook 07 does): a stationary process, whose normal times
    the monitor learned are the normal times it watches. Two disjoint pools of a few thousand items
    differ in how often a classifier flags them by about 0.01, and a chart calibrated on one reads that
    difference on the other as a shift: more false alarms than the target (3-4x in a trial with halves
    of 1,500 sentences)."""
    ref = np.asarray(ref_is_negative)
    if ref.ndim != 1 or ref.dtype != bool or not ref.any():
        raise ValueError("ref_is_negative must be a 1-D bool array with at least one negative item")
    p0 = float(ref.mean())
    s1, s2, s3 = (int(v) for v in np.random.SeedSequence(check_positive("seed", seed, allow_zero=True))
                  .generate_state(3))
    common = dict(n_streams=n_streams, length=length, per_step=per_step, base_rate=p0)
    return Experiment(reference=make_streams(ref, surge_start=0, surge_length=0, intensity=1.0, seed=s1, **common),
                      quiet=make_streams(is_negative, surge_start=0, surge_length=0, intensity=1.0, seed=s2, **common),
                      surge=make_streams(is_negative, surge_start=surge_start, surge_length=surge_length,
                                         intensity=intensity, seed=s3, **common))


def evaluate_monitor(exp: Experiment, ref_flagged, flagged, detector: str = "cusum", param: float | None = None,
                     false_alarm_prob: float = 0.05) -> dict:
    """Set up, calibrate and score one detector on the flags (predictions) of one classifier.

    ``ref_flagged`` / ``flagged``: (N_ref,) / (N,) bool, the items of the reference / monitored pool
    that the classifier calls negative (or the labels themselves: a perfect classifier). mu0 is the
    reference streams' mean flagged fraction, sigma their step-to-step standard deviation;
    ``param`` is lam for "ewma" (default 0.1) or k for "cusum" (default sigma / 2: tuned to a shift of
    one sigma). The threshold is :func:`calibrate`'d on the reference streams at ``false_alarm_prob``.
    Returns ``{"detector", "threshold", "mu0", "sigma", "metrics"`` (:func:`detection_metrics` on the
    surge streams), ``"quiet"`` (:func:`false_alarm_rate` on the quiet streams), ``"x", "stat",
    "alarms"`` (n, T) of the surge streams, ``"surge"`` (start, length), ``"shift"`` (mean flagged
    fraction in the surge minus mu0)}.
    """
    check_choice("detector", detector, DETECTORS)
    x_ref = step_rates(exp.reference, ref_flagged)
    mu0, sigma = float(x_ref.mean()), float(x_ref.std())
    if detector == "ewma":
        det = EWMA(mu0, 0.1 if param is None else param)
    else:
        det = CUSUM(mu0, sigma / 2 if param is None else param)
    h = calibrate(det, x_ref, false_alarm_prob)
    x = step_rates(exp.surge, flagged)
    stat, alarms = run(det, x, h)
    s = exp.surge
    return {"detector": det, "threshold": h, "mu0": mu0, "sigma": sigma,
            "metrics": detection_metrics(alarms, s.surge_start, s.surge_length),
            "quiet": false_alarm_rate(run(det, step_rates(exp.quiet, flagged), h)[1]),
            "x": x, "stat": stat, "alarms": alarms, "surge": (s.surge_start, s.surge_length),
            "shift": float(x[:, s.surge_mask()].mean() - mu0)}
