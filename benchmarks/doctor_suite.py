"""The doctor's proving suite: precision and recall per finding id, false alarms on healthy
presets, and the repair rate (apply the top fix, rerun, did the best val accuracy rise?).

    python -m benchmarks.doctor_suite            # prints a Markdown report for BENCHMARKS.md
    python -m benchmarks.doctor_suite --only flipped-labels-digits leaky-folder   # some cases
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time

from engine.doctor.suite import BROKEN, HEALTHY, build
from engine.preset import Preset
from engine.trainer import Trainer

SEVERE = ("warning", "error")


def run(preset: Preset, out: str) -> tuple[dict, list[dict]]:
    from engine.runs import RunFiles

    summary = Trainer(preset, out=out).fit()
    return summary, RunFiles(summary.run_dir).read_diagnosis()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.doctor_suite")
    names = [c[0] for c in BROKEN] + [c[0] for c in HEALTHY]
    parser.add_argument("--only", nargs="+", choices=names, metavar="CASE", help="these cases")
    only = set(parser.parse_args(argv).only or names)
    out = tempfile.mkdtemp(prefix="plateau-doctor-")
    tp, fp, fn = collections.Counter(), collections.Counter(), collections.Counter()
    rows, repairs, false_alarms = [], [], 0
    started = time.perf_counter()
    for name, changes, must, allowed in BROKEN:
        if name not in only:
            continue
        preset = build(changes).with_changes({"name": name})
        summary, findings = run(preset, out)
        got = {f["id"] for f in findings if f["severity"] in SEVERE}
        for i in got:
            (tp if i in must | allowed else fp)[i] += 1
        for i in must - got:
            fn[i] += 1
        top = findings[0] if findings else None  # the doctor's first advice
        repaired = None
        if top and top["fix"]:
            fixed = preset.with_changes(top["fix"]["set"]).with_changes({"name": name + "-fixed"})
            after, _ = run(fixed, out)
            before_acc = summary.best_val_acc or 0.0
            repaired = (after.best_val_acc or 0.0) > before_acc
            repairs.append(repaired)
            change = (
                f"{top['id']}: {top['fix']['set']} → {before_acc:.3f} → {after.best_val_acc:.3f}"
            )
        else:
            change = f"{top['id']}: no setting can fix this" if top else "nothing found"
        rows.append((name, sorted(must), sorted(got), change, repaired))
        print(f"{name}: must {sorted(must)} got {sorted(got)}; {change}", file=sys.stderr)
    for name, changes in HEALTHY:
        if name not in only:
            continue
        _, findings = run(build(changes).with_changes({"name": name}), out)
        alarms = [f["id"] for f in findings if f["severity"] in SEVERE]
        false_alarms += bool(alarms)
        rows.append((name, [], alarms, "healthy", None))
        print(f"{name}: healthy, alarms {alarms}", file=sys.stderr)
    ids = sorted(set(tp) | set(fp) | set(fn))
    print("| finding id | precision | recall | found / expected |")
    print("| --- | --- | --- | --- |")
    for i in ids:
        p = tp[i] / max(tp[i] + fp[i], 1)
        r = tp[i] / max(tp[i] + fn[i], 1)
        print(f"| `{i}` | {p:.2f} | {r:.2f} | {tp[i]} / {tp[i] + fn[i]} |")
    all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    print(
        f"| **overall** | **{all_tp / max(all_tp + all_fp, 1):.2f}** | "
        f"**{all_tp / max(all_tp + all_fn, 1):.2f}** | {all_tp} / {all_tp + all_fn} |"
    )
    print()
    healthy_run = sum(c[0] in only for c in HEALTHY)
    print(f"Healthy presets with a warning or error: {false_alarms} of {healthy_run}.")
    print(
        f"Repair rate (top fix applied, best val accuracy rose): "
        f"{sum(repairs)}/{len(repairs)} = {sum(repairs) / max(len(repairs), 1):.0%}."
    )
    print()
    print("| case | must find | found | top fix: best val acc before → after |")
    print("| --- | --- | --- | --- |")
    for name, must, got, change, _ in rows:
        print(f"| {name} | {', '.join(must) or '—'} | {', '.join(got) or '—'} | {change} |")
    print(f"\nsuite time {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(
        f"doctor_suite: precision={all_tp / max(all_tp + all_fp, 1):.2f} "
        f"recall={all_tp / max(all_tp + all_fn, 1):.2f} "
        f"repair={sum(repairs) / max(len(repairs), 1):.2f} false_alarms={false_alarms}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
