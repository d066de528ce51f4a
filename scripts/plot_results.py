#!/usr/bin/env python3
"""Small PNG plots of `rapid eval` results (issue 8, item 3).

usage: scripts/plot_results.py RESULTS.jsonl [MORE.jsonl ...] [-o OUTDIR] [--predictions P.jsonl ...]
                               [--plots speedup,acceptance,quality,tau] [--dpi 80] [--max-bytes 60000]

Reads one JSON object per line (several files: their records together) (the `rapid eval` schema: key, task{ctx_tokens, ...},
config{method, rule, eta, gamma, ...}, stats{acceptance_rate, tau, drafted, ...}, speedup,
scores{contains, ...}) and writes into OUTDIR:
  speedup_vs_context.png   decode speedup vs LC by target context length, per method
  acceptance_vs_eta.png    draft acceptance rate vs eta, per method with a drafter
  quality_vs_eta.png       contains-answer vs eta, per method (eta-free methods as flat lines)
  tau_vs_gamma.png         tokens per target call vs gamma, per method
Each point is a mean with its 95 % confidence interval (Student t). --predictions adds the cost
model's speedups (`cost_projection --results R --predictions P`: one line per configuration and
context, config copied from the records) to the speedup plot as lines in each method's colour,
dashed where contexts were measured and dotted where the model extrapolates beyond them. Methods whose rule uses eta
(retrieval_augmented*) are split by eta ("rapid eta=10"). A plot with no data is skipped with a
message; malformed lines are skipped with a warning. Needs matplotlib (Debian python3-matplotlib).
"""
import argparse
import json
import math
import os
import re
import sys
from collections import defaultdict

try:
    import matplotlib
except ModuleNotFoundError:
    # The Debian package installs into the system interpreter; a pyenv/venv python3 may shadow it.
    system = "/usr/bin/python3"
    if (os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system)
            and not os.environ.get("RAPID_PLOT_REEXEC")):
        os.environ["RAPID_PLOT_REEXEC"] = "1"
        os.execv(system, [system, os.path.abspath(__file__), *sys.argv[1:]])
    sys.exit("plot_results: matplotlib is missing: run scripts/install_deps.sh (Debian package python3-matplotlib)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

# Two-sided 95 % Student t critical values by degrees of freedom (1..30); 1.96 beyond.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
MARKERS = "osD^v<>pP*Xh"


def mean_ci(values):
    """(mean, half-width of the 95 % CI); the half-width is 0 for a single value."""
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, 0.0
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    t = T975[n - 2] if n - 1 <= len(T975) else 1.96
    return m, t * sd / math.sqrt(n)


def number(x):
    """x as a finite float, else None (missing, null, NaN, a string)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def load(path):
    records, bad = [], 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                if not isinstance(r, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                bad += 1
                if bad <= 5:
                    print(f"plot_results: {path}:{n}: skipped, not a JSON object ({e})", file=sys.stderr)
                continue
            records.append(r)
    if bad > 5:
        print(f"plot_results: {path}: {bad} malformed lines skipped in all", file=sys.stderr)
    return records


def config(r):
    c = r.get("config")
    return c if isinstance(c, dict) else {}


def section(r, name):
    s = r.get(name)
    return s if isinstance(s, dict) else {}


def uses_eta(r):
    c = config(r)
    return str(c.get("rule", "")).startswith("retrieval_augmented") or (not c.get("rule") and "rapid" in str(c.get("method", "")))


class Naming:
    """Labels that name exactly the knobs that vary across the records: the drafter when there are
    several ("sd [self]"), the RAG budget and gamma likewise."""

    def __init__(self, records):
        self.drafters = len({str(config(r).get("drafter") or "") for r in records} - {""}) > 1
        self.budgets = len({number(config(r).get("rag_budget")) for r in records} - {None, 0}) > 1
        self.gammas = len({number(config(r).get("gamma")) for r in records if speculative(r)} - {None, 0}) > 1

    def method(self, r, gamma=True):
        """The method and the varying knobs; gamma=False leaves gamma out (for plots over gamma)."""
        c = config(r)
        m = str(c.get("method", "?"))
        d = str(c.get("drafter") or "")
        if d and self.drafters:
            m += " [self]" if d == "self" else f" [{d.removesuffix('.gguf')}]"
        budget = number(c.get("rag_budget"))
        if self.budgets and budget:
            m += f" budget={budget:g}"
        g = number(c.get("gamma"))
        if gamma and self.gammas and g:
            m += f" gamma={g:g}"
        return m

    def label(self, r, gamma=True):
        """The method, split by eta where the rule uses it."""
        eta = number(config(r).get("eta"))
        m = self.method(r, gamma)
        return f"{m} eta={eta:g}" if uses_eta(r) and eta is not None else m


def speculative(r):
    """Records of a method that drafted something (LC and RAG draft nothing)."""
    drafted = number(section(r, "stats").get("drafted"))
    return drafted is not None and drafted > 0


def natural(key):
    """Sort key that orders "rapid eta=5" before "rapid eta=10"."""
    return [(0, float(part), "") if i % 2 else (1, 0.0, part) for i, part in enumerate(re.split(r"(\d+(?:\.\d+)?)", key))]


def series(records, key_fn, x_fn, y_fn):
    """{key: [(x, mean, ci, n)]} sorted by x, from records where x and y are numbers."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in records:
        x, y = x_fn(r), y_fn(r)
        if x is None or y is None:
            continue
        groups[key_fn(r)][x].append(y)
    return {k: [(x, *mean_ci(ys), len(ys)) for x, ys in sorted(groups[k].items())] for k in sorted(groups, key=natural)}


class Plotter:
    def __init__(self, outdir, dpi, max_bytes):
        self.outdir, self.dpi, self.max_bytes = outdir, dpi, max_bytes
        self.styles = {}
        self.written, self.skipped = [], []

    def style(self, key):
        """A stable colour and marker per group across all plots."""
        if key not in self.styles:
            i = len(self.styles)
            self.styles[key] = (f"C{i % 10}", MARKERS[i % len(MARKERS)])
        return self.styles[key]

    def skip(self, name, why):
        self.skipped.append(name)
        print(f"plot_results: skipped {name}: {why}", file=sys.stderr)

    def plot(self, name, data, title, xlabel, ylabel, flat=None, hline=None, log2_x=False, log2_y=False, ylim=None, lines=None):
        """data: {group: [(x, mean, ci, n)]}; flat: {group: (mean, ci, n)} drawn as horizontal lines;
        lines: {group: [(x, y, extrapolated)]} drawn as model lines (dashed, dotted where extrapolated)."""
        if not data:
            return False
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        for key, pts in (lines or {}).items():
            colour, _ = self.style(key)
            pts = sorted(pts)
            seen = [p for p in pts if not p[2]]
            beyond = [p for p in pts if p[2]]
            if seen:
                ax.plot([p[0] for p in seen], [p[1] for p in seen], color=colour, linestyle="--", linewidth=0.9, alpha=0.8)
            if beyond:  # from the last measured context on
                joined = seen[-1:] + beyond
                ax.plot([p[0] for p in joined], [p[1] for p in joined], color=colour, linestyle=":", linewidth=1.1, alpha=0.8)
        if lines:
            ax.plot([], [], color="grey", linestyle="--", linewidth=0.9, label="cost model (dotted: extrapolated)")
            print(f"plot_results: {name}: model lines for {len(lines)} configurations", file=sys.stderr)
        for key, pts in data.items():
            colour, marker = self.style(key)
            xs, ms, cis = [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]
            ax.errorbar(xs, ms, yerr=cis, color=colour, marker=marker, markersize=4, linewidth=1.2, capsize=3,
                        label=f"{key} (n={sum(p[3] for p in pts)})")
        for key, (m, ci, n) in (flat or {}).items():
            colour, _ = self.style(key)
            ax.axhline(m, color=colour, linestyle="--", linewidth=1, label=f"{key}, no eta (n={n})")
            if ci > 0:
                ax.axhspan(m - ci, m + ci, color=colour, alpha=0.07, linewidth=0)
        if hline is not None:
            ax.axhline(hline[0], color="grey", linestyle=":", linewidth=1, label=hline[1])
        if log2_x:
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1024:g}K" if v >= 1024 else f"{v:g}"))
        if log2_y:  # ratios: 0.5x and 2x equally far from 1x
            ax.set_yscale("log", base=2)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        if ylim:
            ax.set_ylim(*ylim)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best", frameon=False, ncol=2 if len(data) + len(flat or {}) > 5 else 1)
        fig.tight_layout()
        path = os.path.join(self.outdir, name)
        dpi = self.dpi
        while True:  # shrink until under the size limit (committed plots stay small)
            fig.savefig(path, dpi=dpi, metadata={"Software": None}, pil_kwargs={"optimize": True})
            size = os.path.getsize(path)
            if size <= self.max_bytes or dpi <= 40:
                break
            dpi = int(dpi * 0.8)
        plt.close(fig)
        if size > self.max_bytes:
            print(f"plot_results: warning: {name} is {size} bytes, over {self.max_bytes} even at dpi {dpi}", file=sys.stderr)
        self.written.append(path)
        print(f"plot_results: wrote {path} ({size} bytes, dpi {dpi})", file=sys.stderr)
        return True


PLOT_KINDS = ("speedup", "acceptance", "quality", "tau")


def make_plots(records, plotter, predictions=(), kinds=PLOT_KINDS):
    names = Naming(records)
    method, label = names.method, names.label
    ctx = lambda r: number(section(r, "task").get("ctx_tokens"))  # noqa: E731
    eta = lambda r: number(config(r).get("eta"))  # noqa: E731
    gamma = lambda r: number(config(r).get("gamma"))  # noqa: E731
    stat = lambda k: (lambda r: number(section(r, "stats").get(k)))  # noqa: E731
    contains = lambda r: number(section(r, "scores").get("contains"))  # noqa: E731

    # 1. speedup vs context, every method but LC itself (the 1.0 line), with the model's lines
    model = defaultdict(list)
    for p in predictions:
        x, y = number(p.get("ctx_tokens")), number(p.get("predicted"))
        if x is not None and y is not None:
            model[label({"config": config(p)})].append((x, y, p.get("extrapolated") is True))
    data = series([r for r in records if method(r) != "lc"], label, ctx, lambda r: number(r.get("speedup")))
    if "speedup" in kinds and not plotter.plot(
            "speedup_vs_context.png", data, "Decode speedup vs LC (prefill excluded)", "target context (tokens)",
            "speedup (x)", hline=(1.0, "LC"), log2_x=True, log2_y=True, lines=dict(model)):
        plotter.skip("speedup_vs_context.png", "no records other than LC with task.ctx_tokens and speedup")

    # 2. acceptance vs eta, methods with a drafter
    data = series([r for r in records if speculative(r)], method, eta, stat("acceptance_rate"))
    if "acceptance" in kinds and not plotter.plot("acceptance_vs_eta.png", data, "Draft acceptance rate vs eta", "eta", "acceptance rate",
                        ylim=(0, 1.02)):
        plotter.skip("acceptance_vs_eta.png", "no speculative records (stats.drafted > 0) with config.eta")

    # 3. quality vs eta: methods whose rule uses eta as lines, the others (LC, RAG, SD...) flat
    data = series([r for r in records if uses_eta(r)], method, eta, contains)
    flat = {}
    for key, pts in series([r for r in records if not uses_eta(r)], method, lambda r: 0.0, contains).items():
        flat[key] = (pts[0][1], pts[0][2], pts[0][3])
    if "quality" in kinds and not plotter.plot("quality_vs_eta.png", data, "Answer quality vs eta", "eta", "contains answer (fraction)",
                        flat=flat, ylim=(0, 1.02)):
        plotter.skip("quality_vs_eta.png", "no records of an eta rule (retrieval_augmented*) with scores.contains")

    # 4. tau vs gamma, speculative methods split by eta
    data = series([r for r in records if speculative(r)], lambda r: label(r, gamma=False), gamma, stat("tau"))
    if "tau" in kinds and not plotter.plot("tau_vs_gamma.png", data, "Tokens per target call (tau) vs gamma", "gamma", "tau"):
        plotter.skip("tau_vs_gamma.png", "no speculative records (stats.drafted > 0) with config.gamma and stats.tau")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", help="JSONL files written by `rapid eval` (plotted together)")
    ap.add_argument("--predictions", action="append", default=[],
                    help="JSONL of cost_projection --predictions: model lines on the speedup plot (repeatable)")
    ap.add_argument("--plots", default=",".join(PLOT_KINDS), help=f"which plots, comma-separated from {','.join(PLOT_KINDS)}")
    ap.add_argument("-o", "--outdir", default="plots", help="directory for the PNGs (created)")
    ap.add_argument("--dpi", type=int, default=80, help="resolution (lowered automatically to fit --max-bytes)")
    ap.add_argument("--max-bytes", type=int, default=60000, help="size limit per PNG")
    args = ap.parse_args(argv)
    if args.dpi <= 0 or args.max_bytes <= 0:
        sys.exit("plot_results: --dpi and --max-bytes must be positive")
    kinds = [k for k in args.plots.split(",") if k]
    if not kinds or set(kinds) - set(PLOT_KINDS):
        sys.exit(f"plot_results: --plots takes names from {','.join(PLOT_KINDS)}, got '{args.plots}'")
    records, predictions = [], []
    for path, into in [(p, records) for p in args.results] + [(p, predictions) for p in args.predictions]:
        try:
            into.extend(load(path))
        except OSError as e:
            sys.exit(f"plot_results: cannot read {path}: {e.strerror}")
    if not records:
        print(f"plot_results: {' '.join(args.results)} holds no records; nothing to plot", file=sys.stderr)
    os.makedirs(args.outdir, exist_ok=True)
    plotter = Plotter(args.outdir, args.dpi, args.max_bytes)
    make_plots(records, plotter, predictions, kinds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
