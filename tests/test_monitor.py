"""sslkit.scenarios.monitor: planted-surge streams, EWMA / CUSUM charts, calibration and detection metrics."""
import math

import numpy as np
import pytest

from sslkit.scenarios.monitor import (CUSUM, EWMA, binomial_sigma, calibrate, cusum, detection_metrics, ewma, ewma_limit,
                            false_alarm_rate, first_alarm, make_streams, run, step_rates)


@pytest.fixture(scope="module")
def pool():
    """A labelled pool: 2,000 items, 20% negative."""
    neg = np.zeros(2000, dtype=bool)
    neg[np.random.default_rng(0).permutation(2000)[:400]] = True
    return neg


# ------------------------------------------------------------------------------------ streams

def test_streams_plant_the_surge(pool):
    s = make_streams(pool, n_streams=300, length=200, surge_start=120, surge_length=50, intensity=2.5,
                     per_step=10, seed=1)
    assert s.idx.shape == (300, 200, 10) and s.base_rate == pytest.approx(0.2)
    assert np.allclose(s.rate[s.surge_mask()], 0.5) and np.allclose(s.rate[~s.surge_mask()], 0.2)
    x = step_rates(s, pool)
    assert x.shape == (300, 200)
    # the realised negative fraction follows the planted rate (300 x 50 x 10 items in the surge)
    assert x[:, 120:170].mean() == pytest.approx(0.5, abs=0.01)
    assert x[:, :120].mean() == pytest.approx(0.2, abs=0.01)
    assert x[:, 170:].mean() == pytest.approx(0.2, abs=0.01)


def test_streams_are_reproducible_and_seeded(pool):
    a = make_streams(pool, 5, 50, 20, 10, 2.0, 4, seed=3)
    b = make_streams(pool, 5, 50, 20, 10, 2.0, 4, seed=3)
    c = make_streams(pool, 5, 50, 20, 10, 2.0, 4, seed=4)
    assert np.array_equal(a.idx, b.idx) and not np.array_equal(a.idx, c.idx)


def test_surge_free_streams(pool):
    for kw in (dict(intensity=1.0), dict(surge_length=0)):
        s = make_streams(pool, 200, 100, **{**dict(surge_start=0, surge_length=30, intensity=3.0), **kw},
                         per_step=10, seed=0)
        assert np.allclose(s.rate, 0.2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(intensity=6.0), "exceeds 1; the largest possible intensity here is 5.00"),
    (dict(intensity=0.0), "intensity must be > 0"),
    (dict(intensity=float("nan")), "intensity must be a finite number"),
    (dict(surge_start=90, surge_length=20), r"surge \[90, 110\) does not fit in a stream of length 100"),
    (dict(length=0), "length must be > 0"),
    (dict(per_step=2.5), "per_step must be a positive integer"),
    (dict(n_streams=-1), "n_streams must be > 0"),
    (dict(base_rate=1.0), r"base_rate must be in \(0, 1\)"),
])
def test_bad_stream_parameters(pool, kwargs, match):
    args = {**dict(n_streams=2, length=100, surge_start=50, surge_length=20, intensity=2.0, per_step=5), **kwargs}
    with pytest.raises(ValueError, match=match):
        make_streams(pool, **args)


def test_bad_pools():
    with pytest.raises(ValueError, match="1-D bool array"):
        make_streams(np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="needs negative and non-negative items, got 0 negative"):
        make_streams(np.zeros(10, dtype=bool))
    s = make_streams(np.array([True, False, False]), 1, 10, 0, 0, 1.0, 2)
    with pytest.raises(ValueError, match="only 2 entries"):
        step_rates(s, np.array([True, False]))


# ---------------------------------------------------------------------------------- detectors

X = [0.2, 0.6, 0.0, 0.5, 0.9]


def test_ewma_by_hand():
    # z_t = 0.5 x_t + 0.5 z_{t-1}, z_{-1} = 0.2
    z, expected = 0.2, []
    for x in X:
        z = 0.5 * x + 0.5 * z
        expected.append(z)
    assert expected == pytest.approx([0.2, 0.4, 0.2, 0.35, 0.625])
    assert ewma(X, lam=0.5, mu0=0.2) == pytest.approx(expected)
    assert ewma(X, lam=1.0, mu0=0.2) == pytest.approx(X)  # lam = 1: no memory


def test_cusum_by_hand():
    # S_t = max(0, S_{t-1} + x_t - 0.2 - 0.1): 0, 0.3, 0, 0.2, 0.8
    assert cusum(X, mu0=0.2, k=0.1) == pytest.approx([0.0, 0.3, 0.0, 0.2, 0.8])


def test_alarm_and_reset_by_hand():
    stat, alarm = run(CUSUM(0.2, 0.1), X, threshold=0.25)
    # alarm at t=1 (0.3 > 0.25), restart at 0: t=2: max(0, 0 - 0.3) = 0; t=3: 0.2; t=4: 0.8 -> alarm
    assert stat == pytest.approx([0.0, 0.3, 0.0, 0.2, 0.8])
    assert alarm.tolist() == [False, True, False, False, True]
    stat, alarm = run(EWMA(0.2, 0.5), X, threshold=0.3)
    # t=1: 0.4 > 0.3 -> alarm, restart at 0.2; t=2: 0.1; t=3: 0.3 (not > 0.3); t=4: 0.6 -> alarm
    assert stat == pytest.approx([0.2, 0.4, 0.1, 0.3, 0.6])
    assert alarm.tolist() == [False, True, False, False, True]
    _, no_reset = run(EWMA(0.2, 0.5), X, threshold=0.3, reset=False)
    assert no_reset.tolist() == [False, True, False, True, True]


def test_batch_equals_rows():
    x = np.random.default_rng(0).random((7, 30))
    for det in (EWMA(0.5, 0.2), CUSUM(0.5, 0.05)):
        stat, alarm = run(det, x, threshold=0.6)
        for i in range(7):
            s_i, a_i = run(det, x[i], threshold=0.6)
            assert np.allclose(stat[i], s_i) and np.array_equal(alarm[i], a_i)


def test_ewma_limit_formula():
    # mu0 + L sigma sqrt(lam / (2 - lam)) = 0.2 + 3 * 0.1 * sqrt(0.1 / 1.9)
    assert ewma_limit(0.2, 0.1, 0.1, 3.0) == pytest.approx(0.2 + 0.3 * math.sqrt(0.1 / 1.9))
    exact = ewma_limit(0.2, 0.1, 0.1, 3.0, steps=500)
    assert exact[0] == pytest.approx(0.2 + 0.3 * 0.1)   # t=0: Var z_0 = lam^2 sigma^2
    assert exact[-1] == pytest.approx(ewma_limit(0.2, 0.1, 0.1, 3.0)) and np.all(np.diff(exact) >= 0)
    assert binomial_sigma(0.2, 16) == pytest.approx(0.1)


def test_ewma_variance_matches_theory():
    """The long-run standard deviation of z_t is sigma sqrt(lam / (2 - lam)) for iid x_t."""
    x = np.random.default_rng(1).normal(0.0, 1.0, size=(2000, 300))
    z = ewma(x, lam=0.2, mu0=0.0)
    assert z[:, -1].std() == pytest.approx(math.sqrt(0.2 / 1.8), rel=0.05)


@pytest.mark.parametrize("make, match", [
    (lambda: EWMA(0.2, lam=0.0), r"lam must be in \(0, 1\]"),
    (lambda: EWMA(0.2, lam=1.5), r"lam must be in \(0, 1\]"),
    (lambda: CUSUM(0.2, k=-0.1), r"k must be >= 0"),
    (lambda: CUSUM("0.2"), "mu0 must be a finite number"),
    (lambda: run(CUSUM(0.2), [[]]), r"x must be a sequence"),
    (lambda: run(CUSUM(0.2), [0.1, float("nan")]), "nan or inf"),
    (lambda: run("cusum", [0.1]), "detector must be an EWMA or CUSUM"),
    (lambda: ewma_limit(0.2, -1.0, 0.1), r"sigma must be >= 0"),
    (lambda: calibrate(CUSUM(0.2), np.zeros((10, 5)), 0.05), "needs at least 20 surge-free streams"),
    (lambda: calibrate(CUSUM(0.2), np.zeros((10, 5)), 0.0), r"false_alarm_prob must be in \(0, 1\)"),
])
def test_bad_detector_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------------------------------------------------------------ metrics

def test_first_alarm_by_hand():
    a = np.array([[0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0]], dtype=bool)
    assert first_alarm(a).tolist() == [1, -1, 0]
    assert first_alarm(a, start=2).tolist() == [4, -1, 3]
    assert int(first_alarm(a[0], start=5)) == -1


def test_detection_metrics_by_hand():
    # surge at t = 4 for 3 steps; streams of 10 steps
    a = np.zeros((4, 10), dtype=bool)
    a[0, 5] = True              # delay 1
    a[1, [1, 4]] = True         # a false alarm at 1, then delay 0
    a[2, 8] = True              # first alarm after the surge ended: missed (window 3)
    # stream 3: no alarm at all: missed
    m = detection_metrics(a, surge_start=4, surge_length=3)
    assert np.allclose(m["delays"], [1, 0, np.nan, np.nan], equal_nan=True)
    assert m["detection_rate"] == 0.5 and m["median_delay"] == 0.5 and m["mean_delay"] == 0.5
    assert m["false_alarms_per_1000"] == pytest.approx(1000 * 1 / 16)   # 1 alarm in 4 x 4 pre-surge steps
    assert m["false_alarm_streams"] == 0.25
    wide = detection_metrics(a, surge_start=4, surge_length=3, window=6)
    assert np.allclose(wide["delays"], [1, 0, 4, np.nan], equal_nan=True) and wide["detection_rate"] == 0.75
    none = detection_metrics(np.zeros((2, 10), dtype=bool), 4, 3)
    assert none["detection_rate"] == 0 and math.isnan(none["median_delay"])
    assert false_alarm_rate(a) == {"per_1000_steps": 1000 * 4 / 40, "streams_with_alarm": 0.75}  # 4 alarms in 40 steps


def test_bad_metric_inputs():
    with pytest.raises(ValueError, match="bool array"):
        detection_metrics(np.zeros((2, 10)), 4, 3)
    with pytest.raises(ValueError, match="outside the streams' 10 steps"):
        detection_metrics(np.zeros((2, 10), dtype=bool), 10, 3)
    with pytest.raises(ValueError, match="surge_length must be > 0"):
        detection_metrics(np.zeros((2, 10), dtype=bool), 4, 0)
    with pytest.raises(ValueError, match="bool array"):
        first_alarm([0, 1])


# ------------------------------------------------------------------- end to end: the test

@pytest.mark.parametrize("detector", [EWMA(0.2, lam=0.2), CUSUM(0.2, k=0.1)], ids=["ewma", "cusum"])
def test_planted_surge_is_found_and_stationary_streams_stay_quiet(pool, detector):
    """Calibrated on 400 surge-free streams at a 5% false-alarm probability: a 2.5x surge of negatives
    (20% -> 50%, 10 items a step) is found in every stream within a few steps, and fresh surge-free streams
    (other seeds) rarely alarm: close to the 5% per stream the threshold was chosen for."""
    common = dict(length=300, per_step=10)
    null = step_rates(make_streams(pool, n_streams=400, surge_start=0, surge_length=0, intensity=1.0, seed=10,
                                   **common), pool)
    h = calibrate(detector, null, false_alarm_prob=0.05)
    fresh = step_rates(make_streams(pool, n_streams=400, surge_start=0, surge_length=0, intensity=1.0, seed=11,
                                    **common), pool)
    quiet = false_alarm_rate(run(detector, fresh, h)[1])
    assert quiet["streams_with_alarm"] <= 0.10 and quiet["per_1000_steps"] < 0.5

    surge = make_streams(pool, n_streams=200, surge_start=200, surge_length=50, intensity=2.5, seed=12, **common)
    m = detection_metrics(run(detector, step_rates(surge, pool), h)[1], 200, 50)
    assert m["detection_rate"] == 1.0
    assert np.nanmax(m["delays"]) <= 10 and m["median_delay"] <= 5


def test_the_chosen_threshold_raises_no_alarm_on_a_stationary_stream(pool):
    """The other side: the threshold calibrated for a 1% false-alarm probability, one stationary stream
    (a seed chosen in advance, not searched): no alarm at all."""
    det = CUSUM(0.2, k=0.1)
    null = step_rates(make_streams(pool, 400, 300, 0, 0, 1.0, 10, seed=20), pool)
    h = calibrate(det, null, false_alarm_prob=0.01)
    one = step_rates(make_streams(pool, 1, 300, 0, 0, 1.0, 10, seed=21), pool)
    assert not run(det, one, h)[1].any()


# ------------------------------------------------------------- experiment, pictures, exercises

def _classifier(neg, tpr, fpr, seed):
    rng = np.random.default_rng(seed)
    return np.where(neg, rng.random(len(neg)) < tpr, rng.random(len(neg)) < fpr)


def test_a_better_classifier_detects_sooner(pool):
    """The monitor sees the surge through the classifier: the flagged fraction rises by about
    (tpr - fpr) (intensity - 1) p0, so a classifier with a larger tpr - fpr is detected sooner and more often."""
    from sslkit.scenarios.monitor import evaluate_monitor, make_experiment

    ref_pool = np.roll(pool, 7)  # another held-out pool: the same items in another order
    exp = make_experiment(ref_pool, pool, n_streams=200, length=300, surge_start=200, surge_length=60,
                          intensity=2.0, per_step=10, seed=0)
    res = {}
    for name, tpr, fpr in (("labels", 1.0, 0.0), ("good", 0.8, 0.1), ("weak", 0.5, 0.3)):
        flags = _classifier(pool, tpr, fpr, 1)
        res[name] = evaluate_monitor(exp, np.roll(flags, 7), flags, "cusum")
        assert res[name]["shift"] == pytest.approx((tpr - fpr) * 0.2, abs=0.02)
        assert res[name]["quiet"]["streams_with_alarm"] <= 0.15
    m = {k: r["metrics"] for k, r in res.items()}
    assert m["labels"]["median_delay"] < m["good"]["median_delay"] < m["weak"]["median_delay"]
    assert m["labels"]["detection_rate"] >= m["good"]["detection_rate"] > m["weak"]["detection_rate"]
    with pytest.raises(ValueError, match="unknown detector 'shewhart'; valid detectors: ewma, cusum"):
        evaluate_monitor(exp, ref_pool, pool, "shewhart")


def test_pictures_and_explorer(pool):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sslkit.scenarios.monitor import evaluate_monitor, make_experiment
    from sslkit.teach.monitor_viz import monitor_explorer, plot_delays, plot_monitor

    exp = make_experiment(pool, pool, n_streams=30, length=120, surge_start=80, surge_length=30, per_step=5)
    r = {d: evaluate_monitor(exp, pool, pool, d, false_alarm_prob=0.1) for d in ("ewma", "cusum")}
    fig = plot_monitor(r, stream=3, truth=step_rates(exp.surge, pool)[3], rate=exp.surge.rate)
    assert len(fig.axes) == 3
    plt.close(fig)
    plt.close(plot_delays(r))
    with pytest.raises(ValueError, match=r"stream must be in \[0, 30\)"):
        plot_monitor(r["ewma"], stream=30)
    e = monitor_explorer(pool, pool, {"labels": pool}, {"labels": pool}, length=120, surge_start=80, n_streams=30,
                         surge_length=30, per_step=5)
    first = bytes(e.image.value)
    e.controls["detector"].value = "ewma"
    assert bytes(e.image.value) != first and e.result["detector"].lam == 0.1
    assert bytes(e.image.value)[:4] == b"\x89PNG" and "image/png" in e._repr_mimebundle_()
    with pytest.raises(ValueError, match="must name the same classifiers"):
        monitor_explorer(pool, pool, {"a": pool}, {"b": pool})
    with pytest.raises(ValueError, match="unknown classifier 'c'; valid classifiers: a"):
        monitor_explorer(pool, pool, {"a": pool}, {"a": pool}, classifier="c")


def test_exercise_checks():
    from sslkit.teach.exercises import ExerciseError
    from sslkit.teach.exercises.nb07 import check_delays, check_ewma, check_expected_shift

    def my_ewma(x, lam, mu0, start=None):
        z, out = mu0 if start is None else start, []
        for v in x:
            z = lam * v + (1 - lam) * z
            out.append(z)
        return out

    assert check_ewma(my_ewma)
    with pytest.raises(ExerciseError, match="started at 0 instead of mu0"):
        check_ewma(lambda x, lam, mu0: my_ewma(x, lam, mu0, start=0.0))
    with pytest.raises(ExerciseError, match="lam and 1 - lam were swapped"):
        check_ewma(lambda x, lam, mu0: my_ewma(x, 1 - lam, mu0))

    def my_delays(alarms, start, length, window=True):
        hits = [np.flatnonzero(row[start:]) for row in alarms]
        return [h[0] if len(h) and (h[0] < length or not window) else np.nan for h in hits]

    assert check_delays(my_delays)
    with pytest.raises(ExerciseError, match="alarms after the surge ended were counted"):
        check_delays(lambda a, s, n: my_delays(a, s, n, window=False))
    with pytest.raises(ExerciseError, match="negative delay comes from an alarm before the surge"):
        check_delays(lambda a, s, n: [np.flatnonzero(r)[0] - s if r.any() else np.nan for r in a])
    with pytest.raises(ExerciseError, match="not written yet"):
        check_delays(lambda a, s, n: (_ for _ in ()).throw(NotImplementedError()))

    assert check_expected_shift(lambda tpr, fpr, p0, i: (tpr - fpr) * (i - 1) * p0)
    with pytest.raises(ExerciseError, match="false positives were forgotten"):
        check_expected_shift(lambda tpr, fpr, p0, i: tpr * (i - 1) * p0)
