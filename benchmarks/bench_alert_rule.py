"""What the onset alert rule costs the radar: 400 symbols at 1-minute bars, one core.

The radar keeps each symbol's recent bars of its label's columns (serving.alert_rule.RecentBars)
and, for the symbols at or above their model's alert level, asks the label whether a squeeze
is running (features.labels.running_at_last on the last calm window + horizon + a bar). Printed
in CPU time, with the load average, beside two figures of the same run: the budget a bar close
has (1 s for all 400 symbols, issue 23) and ``features_at`` on one day of 1-minute bars (what
/predict computes per request).

    python benchmarks/bench_alert_rule.py [--symbols 400]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd

from features.labels import CALM_WINDOW, LabelSpec
from features.pipeline import features_at
from features.sources.simulator import simulate
from serving.alert_rule import RecentBars, label_inputs, running_now, tape_span


class _Model:
    """The two members of a FlushModel that running_now reads."""

    label_spec = LabelSpec().to_dict()
    calm_window = CALM_WINDOW


def _cpu(call, n: int) -> float:
    """CPU seconds per call, over ``n`` calls after one warm-up call."""
    call()
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=400)
    args = parser.parse_args()
    n = args.symbols
    frame = simulate("BTC", days=2, bar="1m", seed=3, preset="default")
    step, spec = pd.Timedelta("1min"), LabelSpec()
    span = tape_span(spec, CALM_WINDOW, step)
    columns = label_inputs(spec)
    rows = [frame.iloc[[k]] for k in range(len(frame))]
    tape = RecentBars(step)
    warm = int(span / step) + 10
    for k in range(warm):
        for s in range(n):
            tape.append(f"S{s}", rows[k], span, columns)
    bars = iter(range(warm, len(rows)))

    def bar_close() -> None:
        k = next(bars)
        for s in range(n):
            tape.append(f"S{s}", rows[k], span, columns)

    append = _cpu(bar_close, 30)
    t = frame.index[warm + 30]
    names = iter(range(10**9))

    def judge() -> None:
        running_now(tape.frame(f"S{next(names) % n}", t, span), _Model, step, spec)

    one = _cpu(judge, 300)
    window = frame[frame.index > frame.index[-1] - pd.Timedelta(days=1)]
    ceiling = _cpu(lambda: features_at(window, bar="1m"), 5)
    load = "load {:.1f}/{:.1f}".format(*os.getloadavg()[:2])
    print(f"onset alert rule, {n} symbols at 1m bars ({load}; CPU time)")
    print(f"  keep the recent bars, per bar close:     {append * 1e3:7.2f} ms ({append / n * 1e6:.1f} us per symbol)")
    print(f"  is a squeeze running, per symbol judged: {one * 1e3:7.2f} ms")
    print(f"  all {n} symbols at the alert level:       {(append + one * n) * 1e3:7.0f} ms "
          f"of the 1000 ms a bar close has ({(append + one * n) / 1.0:.0%})")
    print(f"  ceiling, features_at on 1 day of 1m bars: {ceiling * 1e3:7.1f} ms "
          f"(judging costs {one / ceiling:.3f}x of it)")


if __name__ == "__main__":
    main()
