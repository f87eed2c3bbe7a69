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
    changes: str = ""  # what it drops or adds compared with MAML, and what that costs or buys
    paper: str = ""  # where it was published
    published: tuple[str, ...] = ()  # its published Omniglot accuracies, each with its table and protocol


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
            changes="the reference: it keeps every inner step's graph for the backward pass, so its memory and "
            "time grow with the inner steps",
            paper="Finn, Abbeel and Levine 2017, Model-Agnostic Meta-Learning (ICML)",
            published=(
                "Omniglot 5-way 1-shot 98.7 ± 0.4 %, 5-shot 99.9 ± 0.1 %; 20-way 1-shot 95.8 ± 0.3 %, 5-shot "
                "98.9 ± 0.2 % (Table 1; 95 % intervals; 28×28, transductive batch norm)",
            ),
        ),
        Variant(
            "fomaml",
            "FOMAML",
            "#1f77b4",
            "dash",
            first_order=True,
            adapts="every parameter",
            rule="drops the Hessian term: the query gradient at the adapted parameters",
            changes="drops the second-order term: nothing is kept across inner steps, so memory stays flat in K",
            paper="Finn et al. 2017 (§5.2); Omniglot figures from Nichol, Achiam and Schulman 2018",
            published=(
                "Omniglot 5-way 1-shot 98.3 ± 0.5 %, 5-shot 99.2 ± 0.2 %; 20-way 1-shot 89.4 ± 0.5 %, 5-shot "
                "97.9 ± 0.1 % (Nichol et al. 2018, Table 2, with transduction)",
            ),
        ),
        Variant(
            "reptile",
            "Reptile",
            "#2ca02c",
            "dashdot",
            first_order=True,
            adapts="every parameter, on support and query examples together",
            rule="moves towards the adapted weights: meta-gradient (θ − φ_K) / α, the sum of the inner gradients",
            changes="drops the second-order term and the query loss: no split inside a task, no backward pass "
            "through anything but the inner steps themselves. With one inner step it is joint training on the "
            "task's examples, whose labels are shuffled from task to task (the paper's §5): it needs several",
            paper="Nichol, Achiam and Schulman 2018, On First-Order Meta-Learning Algorithms",
            published=(
                "Omniglot 5-way 1-shot 95.39 ± 0.09 %, 5-shot 98.90 ± 0.10 %; 20-way 1-shot 88.14 ± 0.15 %, "
                "5-shot 96.65 ± 0.33 % (Table 2, arXiv v3; without transduction)",
                "with transduction (as here): 5-way 1-shot 97.68 ± 0.04 %, 20-way 1-shot 89.43 ± 0.14 %",
            ),
        ),
        Variant(
            "anil",
            "ANIL",
            "#9467bd",
            "dot",
            first_order=False,
            adapts="the head only",
            rule="adapts only the head; second-order meta-gradient for every parameter through that loop",
            changes="the body's features are computed once per task: the inner loop and its graph are a linear "
            "layer's. If it matches MAML, MAML was reusing features, not learning fast",
            paper="Raghu, Raghu, Bengio and Vinyals 2020, Rapid Learning or Feature Reuse? (ICLR)",
            published=(
                "Omniglot 20-way 1-shot 96.2 ± 0.5 %, 5-shot 98.0 ± 0.3 % against MAML's 93.7 ± 0.7 % and "
                "96.4 ± 0.1 % in the same table (Table 2; ± a standard deviation over 3 seeds)",
            ),
        ),
        Variant(
            "metasgd",
            "Meta-SGD",
            "#8c564b",
            "longdash",
            first_order=False,
            adapts="every parameter, each with its own learned step size",
            rule="learns a step size per parameter too: φ ← φ − lr ⊙ ∇L_support, lr meta-learned",
            changes="adds as many step sizes as weights: twice the parameters, and the step sizes' gradient comes "
            "from the same second-order backward pass",
            paper="Li, Zhou, Chen and Li 2017, Meta-SGD: Learning to Learn Quickly for Few-Shot Learning",
            published=("Omniglot 5-way 1-shot 99.53 ± 0.26 %, 5-shot 99.93 ± 0.09 % (one inner step)",),
        ),
        Variant(
            "mamlpp",
            "MAML++",
            "#ff7f0e",
            "longdashdot",
            first_order=False,
            adapts="conv and head, per-step step sizes; batch-norm weights per step, learned outside",
            rule="MAML with a multi-step loss, learned per-layer per-step step sizes, per-step batch-norm "
            "weights and a cosine-annealed outer learning rate",
            changes="adds stability: the query loss after every step early on (more graph kept), a few dozen "
            "learned step sizes, K copies of the batch-norm weights",
            paper="Antoniou, Edwards and Storkey 2019, How to train your MAML (ICLR)",
            published=(
                "Omniglot 5-way 1-shot 99.47 %, 20-way 1-shot 97.65 %, 20-way 5-shot 99.33 % (Table 1; "
                "mean over 3 seeds; 5 inner steps)",
            ),
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
