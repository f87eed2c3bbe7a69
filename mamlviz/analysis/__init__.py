"""What records say, in numbers: statistics, comparisons against the reference variant, sweeps and
studies. No torch, no words (``mamlviz.report`` writes those)."""
