"""Checks for notebook 07 (sentiment monitoring): the EWMA recursion, detection delays from alarm
sequences, and how much a classifier's errors shrink the surge it lets the monitor see."""
from __future__ import annotations

import numpy as np

from sslkit.teach.exercises._core import call, describe, fail, mistake_hint, passed, same


def check_ewma(fn) -> bool:
    """``fn(x, lam, mu0) -> z``: z_t = lam x_t + (1 - lam) z_{t-1} with z_{-1} = mu0, for a 1-D array ``x``
    (no alarms, no restart), checked against :func:`sslkit.scenarios.monitor.ewma` on two fixed sequences."""
    from sslkit.scenarios.monitor import ewma

    name = "ewma"
    rng = np.random.default_rng(7)
    cases = [(np.array([0.2, 0.6, 0.0, 0.5, 0.9]), 0.5, 0.2), (rng.random(40), 0.15, 0.3)]
    for x, lam, mu0 in cases:
        got = call(name, fn, x.copy(), lam, mu0, what="your ewma")
        ref = ewma(x, lam=lam, mu0=mu0)
        if same(got, ref):
            continue
        hint = mistake_hint(got, {
            "the recursion started at 0 instead of mu0": (ewma(x, lam=lam, mu0=0.0),
                                                         "before any data, z_{-1} = mu0, the in-control mean."),
            "the recursion started at x_0": (np.concatenate([[x[0]], ewma(x[1:], lam=lam, mu0=x[0])]),
                                             "z_{-1} = mu0, so z_0 = lam x_0 + (1 - lam) mu0."),
            "lam and 1 - lam were swapped": (ewma(x, lam=1 - lam, mu0=mu0),
                                             "the NEW value x_t gets the weight lam; the old average 1 - lam."),
            "z_t used the previous value x_{t-1}": (np.concatenate([[mu0], ewma(x[:-1], lam=lam, mu0=mu0)]),
                                                    "z_t = lam * x_t + (1 - lam) * z_{t-1}: the current x."),
        }) or "loop over t, keep the last z, and return one z per x (same length as x)."
        fail(name, f"got {describe(got)} for x of length {len(x)}, lam={lam}, mu0={mu0}.", hint)
    return passed(name)


def check_delays(fn) -> bool:
    """``fn(alarms, surge_start, surge_length) -> delays``: for each row of the bool (n, T) ``alarms``,
    the first alarm at t >= surge_start minus surge_start, or nan when that alarm does not come before
    the surge ends (missed); checked against :func:`sslkit.scenarios.monitor.detection_metrics`."""
    from sslkit.scenarios.monitor import detection_metrics, first_alarm

    name = "delays"
    a = np.zeros((6, 12), dtype=bool)
    a[0, 6] = True                 # delay 1
    a[1, [2, 5]] = True            # a false alarm first, then delay 0
    a[2, 11] = True                # after the surge: missed
    a[3, 3] = True                 # only before the surge: missed
    a[4, [7, 9]] = True            # delay 2 (the second alarm does not count)
    # row 5: no alarm at all
    start, length = 5, 4
    ref = detection_metrics(a, start, length)["delays"]
    got = call(name, fn, a.copy(), start, length, what="your delay function")

    def coded(d):  # nan (missed) -> -1, so that missed streams compare equal
        try:
            return np.nan_to_num(np.asarray(d, dtype=float), nan=-1.0)
        except (TypeError, ValueError):
            return d

    if not same(coded(got), coded(ref)):
        from_start = first_alarm(a, start)
        hint = mistake_hint(coded(got), {
            "alarms after the surge ended were counted as detections": (
                np.where(from_start >= 0, from_start - start, -1),
                "an alarm at or after surge_start + surge_length did not detect the surge: nan."),
            "the first alarm's step was returned, not the delay": (
                np.where(np.isfinite(ref), ref + start, -1), "subtract surge_start."),
            "missed streams got a delay of 0 instead of nan": (
                np.nan_to_num(ref, nan=0.0), "a missed surge has no delay: np.nan."),
        })
        numeric = isinstance(coded(got), np.ndarray)
        if hint is None and numeric and np.any(coded(got) < -1):
            hint = "a negative delay comes from an alarm before the surge: only alarms at t >= surge_start count."
        hint = hint or ("for each row: the first True at index >= surge_start; delay = index - surge_start; "
                        "nan when there is none or delay >= surge_length.")
        shown = np.round(np.asarray(got, dtype=float), 2).tolist() if numeric else describe(got)
        fail(name, f"got {shown}; expected one delay (or nan) per row of the (6, 12) alarms.", hint)
    return passed(name)


def check_expected_shift(fn) -> bool:
    """``fn(tpr, fpr, p0, intensity) -> shift``: the rise of the expected flagged fraction when the
    negative rate goes from p0 to intensity * p0, for a classifier flagging a negative item with
    probability tpr and another item with probability fpr: (tpr - fpr) (intensity - 1) p0."""
    name = "expected_shift"
    cases = [(0.8, 0.1, 0.3, 2.0), (0.55, 0.3, 0.25, 2.5), (1.0, 0.0, 0.2, 3.0)]
    for tpr, fpr, p0, intensity in cases:
        ref = (tpr - fpr) * (intensity - 1) * p0
        got = call(name, fn, tpr, fpr, p0, intensity, what="your expected_shift")
        if same(got, ref):
            continue
        hint = mistake_hint(got, {
            "the false positives were forgotten": (
                tpr * (intensity - 1) * p0,
                "a surge also removes non-negative items, and with them fpr of their flags."),
            "that is the flagged fraction during the surge, not the change": (
                tpr * intensity * p0 + fpr * (1 - intensity * p0), "subtract the normal flagged fraction."),
            "that is the change of the true negative rate": (
                (intensity - 1) * p0, "the monitor only sees flags; each negative is flagged with probability tpr."),
        }) or ("flagged fraction at negative rate p: tpr * p + fpr * (1 - p); take the difference between "
               "p = intensity * p0 and p = p0.")
        fail(name, f"got {describe(got)} for tpr={tpr}, fpr={fpr}, p0={p0}, intensity={intensity}.", hint)
    return passed(name)
