"""mamlviz: exact MAML vs first-order MAML on Omniglot, measured side by side.

Importing the package is cheap: torch-backed names (``compare``, ``train_maml``) load on first
use, so the UI-facing modules (records, charts) work where torch is absent.
"""
from .config import ConfigError, RunConfig

__all__ = ["RunConfig", "ConfigError", "compare", "train_maml"]


def __getattr__(name):
    if name == "compare":
        from .engine import compare
        return compare
    if name == "train_maml":
        from .seed_api import train_maml
        return train_maml
    raise AttributeError(f"module 'mamlviz' has no attribute {name!r}")
