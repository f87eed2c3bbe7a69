"""The algorithms of the comparison, one small file each (the variant table names them, ``mamlviz.variants``)."""

from __future__ import annotations

from ... import variants
from .anil import ANIL
from .base import LEARNED, NETWORK, Algorithm
from .maml import FOMAML, MAML
from .mamlpp import MAMLPlusPlus
from .metasgd import MetaSGD
from .reptile import Reptile

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (MAML(), FOMAML(), Reptile(), ANIL(), MetaSGD(), MAMLPlusPlus())}


def network(params) -> dict:
    """The plain network inside any algorithm's parameters (MAML++'s: with its last step's batch norm)."""
    if any(k.startswith("step.") for k in params):
        return ALGORITHMS["mamlpp"].network(params)
    return Algorithm.network(ALGORITHMS["maml"], params)


def get(name: str) -> Algorithm:
    """The algorithm a variant table name trains by; a variant with no algorithm of its own trains as MAML or
    FOMAML, by its table's ``first_order``."""
    if name in ALGORITHMS:
        return ALGORITHMS[name]
    return ALGORITHMS["fomaml" if variants.get(name).first_order else "maml"]


__all__ = ["ALGORITHMS", "LEARNED", "NETWORK", "Algorithm", "get", "network"]
