"""Plotly figures for the dashboard, one module per page, drawn from run records and live job snapshots.

Every figure iterates over the variants a record holds (``mamlviz.variants``): a new row in the variant
table shows up in every chart without touching them. No torch.
"""

from .base import DRAWN_POINTS, X_AXES, label

__all__ = ["DRAWN_POINTS", "X_AXES", "label"]
