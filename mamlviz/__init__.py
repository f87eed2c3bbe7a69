"""mamlviz: exact MAML and its shortcuts (the variant table) on Omniglot, measured side by side.

Importing the package is cheap: torch-backed names (``compare``, ``sweep``, ``train_maml``) load on
first use from ``mamlviz.engine``, so the UI-facing modules work where torch is absent.
"""

from .config import ConfigError, RunConfig

__all__ = ["RunConfig", "ConfigError", "compare", "sweep", "train_maml"]


def __getattr__(name):
    if name in ("compare", "sweep"):
        from . import engine

        return getattr(engine, name)
    if name == "train_maml":
        from .engine.seed_api import train_maml

        return train_maml
    raise AttributeError(f"module 'mamlviz' has no attribute {name!r}")
