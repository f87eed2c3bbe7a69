"""The variant table: every meta-learning algorithm the product compares, declared once.

Charts, tables, summaries, study aggregates, the CLI and the pages iterate over the variants present
in a record (``in_record``), in this table's order, and compare each against the record's reference
(``reference_of``: MAML when it ran). The engine asks a variant how to train it (``first_order``).
Adding a row here shows a new variant everywhere. No torch: the UI reads this.
"""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE = "maml"  # what every other variant is compared against: the exact second-order gradient


@dataclass(frozen=True)
class Variant:
    name: str  # the key in records, configs and the CLI
    label: str  # how people read it: "MAML"
    color: str  # every chart's colour, Plotly and SVG alike
    dash: str  # its line style, so that charts read without colour too (Plotly dash names)
    first_order: bool  # drops the second-order term of the meta-gradient
    adapts: str  # what the inner loop adapts, in words
    rule: str  # the update in one line: what it drops or adds
    reference: str | None = REFERENCE  # the variant it is compared with; None: it is the reference


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "maml",
            "MAML",
            "#d62728",
            "solid",
            first_order=False,
            adapts="every parameter",
            rule="differentiates through the inner loop: the exact meta-gradient, Hessian term included",
            reference=None,
        ),
        Variant(
            "fomaml",
            "FOMAML",
            "#1f77b4",
            "dash",
            first_order=True,
            adapts="every parameter",
            rule="drops the Hessian term: the query gradient at the adapted parameters",
        ),
    )
}
DEFAULT = ("maml", "fomaml")  # what a comparison trains unless told otherwise: the seed's question


def get(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown algorithm {name!r} (known: {', '.join(VARIANTS)})") from None


def label(name: str) -> str:
    v = VARIANTS.get(name)
    return v.label if v else name


def color(name: str) -> str:
    v = VARIANTS.get(name)
    return v.color if v else "#7f7f7f"


def dash(name: str) -> str:
    v = VARIANTS.get(name)
    return v.dash if v else "dot"


def ordered(names) -> list[str]:
    """``names`` in the table's order (unknown names last, as given)."""
    names = list(dict.fromkeys(names))
    known = [n for n in VARIANTS if n in names]
    return known + [n for n in names if n not in VARIANTS]


def in_record(record: dict) -> list[str]:
    """The variants a compare record holds results for, in the table's order."""
    return ordered(record["results"])


def reference_of(names) -> str | None:
    """The variant the others are compared against: MAML when present, else the first one."""
    names = list(names)
    if REFERENCE in names:
        return REFERENCE
    return names[0] if names else None


def others(names) -> list[str]:
    """Every variant but the reference, in the table's order."""
    ref = reference_of(names)
    return [n for n in ordered(names) if n != ref]


def parse(text) -> tuple[str, ...]:
    """A comma list (or a list) of algorithm names, checked against the table (ValueError naming the
    unknown one)."""
    if isinstance(text, (list, tuple)):
        text = ",".join(map(str, text))
    if not isinstance(text, str):
        raise ValueError(f"expected a comma list of algorithms (known: {', '.join(VARIANTS)}), got {text!r}")
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown algorithm {unknown[0]!r} (known: {', '.join(VARIANTS)})")
    if not names:
        raise ValueError(f"give at least one algorithm (known: {', '.join(VARIANTS)})")
    if len(set(names)) != len(names):
        raise ValueError(f"each algorithm once, got {text!r}")
    return tuple(names)
