"""Time the default CPU comparison end to end (both trainings + evaluation), as a user would see it.

python bench/cpu_default.py [--out runs/cpu_default.json]
"""

import argparse
import time
from pathlib import Path

from mamlviz import compare, records, summary
from mamlviz.presets import CPU_QUICK

ap = argparse.ArgumentParser()
ap.add_argument("--out", type=Path, default=None)
args = ap.parse_args()
t0 = time.perf_counter()
record = compare(CPU_QUICK, label="CPU quick demo (default CPU config)")
wall = time.perf_counter() - t0
print(summary.text_report(record))
s = record["setup"]
print(
    f"\nwhole comparison: {wall:.1f} s wall clock (data {s['data_load_s']:.1f} s, path selection "
    f"{s['path_selection'].get('probe_s', 0):.1f} s, evaluation {s['eval_time_s']:.1f} s)"
)
if args.out:
    records.save(record, args.out)
