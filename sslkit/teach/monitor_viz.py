"""Pictures of a streaming monitor, and an explorer widget over :func:`sslkit.scenarios.monitor.evaluate_monitor`.

    fig = plot_monitor(result, stream=0, truth=step_rates(exp.surge, is_negative)[0])
    fig = plot_delays({"tf-idf": r1, "minilm": r2})          # delay distributions, one box per result
    monitor_explorer(exp_args, ref_flags, flags)             # sliders: surge, detector, lam / k, alpha

The explorer follows :mod:`sslkit.teach.widgets`: a VBox of controls over an ``ipywidgets.Image`` redrawn by
matplotlib, whose display bundle also carries the picture for viewers without a widget frontend.
"""
from __future__ import annotations

import ipywidgets as w
import matplotlib.pyplot as plt
import numpy as np

from sslkit.checks import check_choice
from sslkit.scenarios.monitor import DETECTORS, evaluate_monitor, make_experiment, step_rates
from sslkit.teach.viz import fig_to_png
from sslkit.teach.widgets import _StaticFallback

__all__ = ["plot_monitor", "plot_delays", "MonitorExplorer", "monitor_explorer"]


def _shade_surge(ax, start, length):
    ax.axvspan(start - 0.5, start + length - 0.5, color="tab:red", alpha=0.08, lw=0)


def plot_monitor(results, stream: int = 0, truth=None, rate=None, title: str | None = None):
    """One stream: the flagged fraction per step (top), then each detector's statistic, threshold and alarms.

    ``results``: an :func:`~sslkit.scenarios.monitor.evaluate_monitor` result, or {name: result} for several
    detectors on the same streams (one panel each). ``truth`` (T,): the true negative fraction of the
    stream's items; ``rate`` (T,): the planted probability. The surge is shaded; the delay of the
    first alarm in it is written on each panel.
    """
    if "stat" in results:
        results = {results["detector"].__class__.__name__: results}
    first = next(iter(results.values()))
    n, T = first["x"].shape
    if not 0 <= stream < n:
        raise ValueError(f"stream must be in [0, {n}), got {stream}")
    m = first["metrics"]
    start, length = first["surge"]
    fig, axes = plt.subplots(1 + len(results), 1, figsize=(7.2, 1.9 + 1.5 * len(results)), sharex=True)
    t = np.arange(T)
    ax = axes[0]
    _shade_surge(ax, start, length)
    if truth is not None:
        ax.plot(t, truth, color="0.75", lw=0.8, label="true negative fraction")
    ax.plot(t, first["x"][stream], color="tab:blue", lw=0.8, label="predicted negative fraction $x_t$")
    if rate is not None:
        ax.plot(t, rate, "k--", lw=1, label="planted rate")
    ax.axhline(first["mu0"], color="tab:green", lw=1, label=r"$\mu_0$ (reference)")
    ax.set_ylabel("fraction")
    ax.legend(fontsize=7, frameon=False, ncol=2, loc="upper left")
    for ax, (name, r) in zip(axes[1:], results.items()):
        _shade_surge(ax, start, length)
        ax.plot(t, r["stat"][stream], color="tab:purple", lw=1, label=name)
        ax.axhline(r["threshold"], color="tab:red", lw=1, ls="--", label=f"threshold h={r['threshold']:.3f}")
        hits = np.flatnonzero(r["alarms"][stream])
        ax.plot(hits, r["stat"][stream][hits], "v", color="tab:red", ms=5, label="alarm")
        d = r["metrics"]["delays"][stream]
        note = f"delay {d:.0f} steps" if np.isfinite(d) else "surge missed"
        ax.text(0.99, 0.92, note, transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.set_ylabel("statistic")
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    axes[-1].set_xlabel("step")
    axes[0].set_title(title or f"stream {stream} of {m['n_streams']}: surge at step {start} for {length} steps",
                      fontsize=10)
    fig.tight_layout()
    return fig


def plot_delays(results: dict, title: str | None = None, ax=None):
    """Detection delays of several results (``{name: evaluate_monitor result}``) as box plots, with the
    detection rate and false alarms per 1000 quiet steps under each box."""
    names = list(results)
    if not names:
        raise ValueError("results is empty: give {name: evaluate_monitor result}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.2))
    else:
        fig = ax.figure
    data = [r["metrics"]["delays"][np.isfinite(r["metrics"]["delays"])] for r in results.values()]
    ax.boxplot([d if len(d) else [np.nan] for d in data], showfliers=True, widths=0.6,
               flierprops=dict(ms=2, alpha=0.4))
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xticklabels([f"{n}\ndetected {r['metrics']['detection_rate']:.0%}\n"
                        f"FA/1000: {r['quiet']['per_1000_steps']:.2f}" for n, r in results.items()], fontsize=7)
    ax.set_ylabel("detection delay (steps)")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


class MonitorExplorer(_StaticFallback, w.VBox):
    """Sliders over a monitoring experiment: surge intensity and length, items per step, the classifier
    (whose predictions feed the monitor), detector, its parameter (lam or k) and the false-alarm target.

    ``ref_is_negative`` / ``is_negative``: labels of the reference / monitored pools; ``ref_flags`` /
    ``flags``: {classifier name: (N_ref,) / (N,) bool predictions}; ``classifier``: the one shown first.
    The picture is one stream
    (:func:`plot_monitor`) with, in its title, the median delay, detection rate and false alarms over
    ``n_streams`` streams. Streams are rebuilt only when a stream setting moves.
    """

    summary = "surge monitor explorer"

    def __init__(self, ref_is_negative, is_negative, ref_flags: dict, flags: dict, length: int = 400,
                 surge_start: int = 250, n_streams: int = 200, seed: int = 0, intensity: float = 2.0,
                 surge_length: int = 60, per_step: int = 20, classifier: str | None = None):
        if not flags or set(flags) != set(ref_flags):
            raise ValueError("flags and ref_flags must name the same classifiers (at least one)")
        if classifier is not None:
            check_choice("classifier", classifier, flags)
        self.ref_is_negative, self.is_negative = np.asarray(ref_is_negative), np.asarray(is_negative)
        self.ref_flags, self.flags = ref_flags, flags
        self.length, self.surge_start, self.n_streams, self.seed = length, surge_start, n_streams, seed
        p0 = float(self.ref_is_negative.mean())
        style = {"description_width": "120px"}
        lay = w.Layout(width="330px")
        kw = dict(style=style, layout=lay, continuous_update=False)
        self.controls = {
            "classifier": w.Dropdown(options=list(flags), value=classifier or next(iter(flags)),
                                     description="predictions of", style=style, layout=lay),
            "intensity": w.FloatSlider(intensity, min=1.0, max=round(min(4.0, 1 / p0), 1), step=0.1,
                                       description="surge intensity", **kw),
            "surge_length": w.IntSlider(surge_length, min=5, max=length - surge_start, step=5,
                                        description="surge length", **kw),
            "per_step": w.IntSlider(per_step, min=1, max=100, description="items per step", **kw),
            "detector": w.Dropdown(options=list(DETECTORS), value="cusum", description="detector", style=style,
                                   layout=lay),
            "lam": w.FloatSlider(0.1, min=0.02, max=1.0, step=0.02, description="EWMA λ", **kw),
            "k_sigmas": w.FloatSlider(0.5, min=0.0, max=3.0, step=0.25, description="CUSUM k (× σ)", **kw),
            "alpha": w.FloatLogSlider(0.05, base=10, min=-2.3, max=-0.3, step=0.1,
                                      description="false-alarm prob.", **kw),
        }
        self.button = w.Button(description="new streams", icon="refresh")
        self.image = w.Image(format="png")
        for c in self.controls.values():
            c.observe(self.update, names="value")
        self.button.on_click(self._new_seed)
        self._exp_key, self.exp, self.result = None, None, None
        left = [self.controls[k] for k in ("classifier", "intensity", "surge_length", "per_step")]
        right = [self.controls[k] for k in ("detector", "lam", "k_sigmas", "alpha")]
        super().__init__([w.HBox([w.VBox(left), w.VBox(right), self.button]), self.image])
        self.update()

    def params(self) -> dict:
        return {k: c.value for k, c in self.controls.items()}

    def run(self) -> dict:
        p = self.params()
        key = (p["intensity"], p["surge_length"], p["per_step"], self.seed)
        if key != self._exp_key:
            self.exp = make_experiment(self.ref_is_negative, self.is_negative, n_streams=self.n_streams,
                                       length=self.length, surge_start=self.surge_start,
                                       surge_length=p["surge_length"], intensity=p["intensity"],
                                       per_step=p["per_step"], seed=self.seed)
            self._exp_key = key
        name = p["classifier"]
        if p["detector"] == "ewma":
            param = p["lam"]
        else:  # k in units of the reference streams' sigma, so one slider fits every per_step
            param = p["k_sigmas"] * float(step_rates(self.exp.reference, self.ref_flags[name]).std())
        self.result = evaluate_monitor(self.exp, self.ref_flags[name], self.flags[name], p["detector"], param,
                                       p["alpha"])
        return self.result

    def figure(self):
        r, m = self.run(), self.result["metrics"]
        s = self.exp.surge
        title = (f"{self.params()['classifier']}: median delay {m['median_delay']:.0f} steps, detected "
                 f"{m['detection_rate']:.0%}, false alarms {r['quiet']['per_1000_steps']:.2f}/1000 steps "
                 f"({self.n_streams} streams)")
        return plot_monitor(r, 0, truth=step_rates(s, self.is_negative)[0], rate=s.rate, title=title)

    def update(self, *_):
        fig = self.figure()
        self.image.value = fig_to_png(fig)
        plt.close(fig)

    def _new_seed(self, _=None):
        self.seed += 1
        self.update()


def monitor_explorer(ref_is_negative, is_negative, ref_flags: dict, flags: dict, **kwargs) -> MonitorExplorer:
    """A :class:`MonitorExplorer` widget."""
    return MonitorExplorer(ref_is_negative, is_negative, ref_flags, flags, **kwargs)
