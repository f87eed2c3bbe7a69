"""Theory: the update rules, where the Hessian term sits, what each algorithm of the family drops or adds, and
when to use which."""

import streamlit as st

from mamlviz import report, source, variants
from mamlviz.analysis.compare import compare_numbers
from views import _state

FAQ = [
    (
        "Is MAML's gradient here exact?",
        "Yes. The tests compare the vectorized meta-gradient in float64 against a per-task "
        "plain-autograd implementation (the tests require a relative error below 1e-10) and against finite differences "
        "on a smooth variant of the network, for one and several inner steps, both orders.",
    ),
    (
        "Why write batch norm by hand?",
        "Under `torch.func.vmap`, `F.batch_norm` in training mode returns a wrong second-order "
        "gradient (functorch issue 534). Mean, variance and `rsqrt` written out are exact.",
    ),
    (
        "What is 'transductive' batch norm?",
        "Batch statistics are used at test time too, computed over the task's query batch, as in "
        "the MAML paper's Omniglot experiments. Every record states this in its protocol.",
    ),
    (
        "Why can FOMAML be less than 2× faster?",
        "Skipping the Hessian term removes only the backward pass through the inner loop; the "
        "forward passes, the query backward and data handling remain. The ratio depends on the "
        "number of inner steps, the device and the batch sizes: the Scaling page measures it.",
    ),
    (
        "What is the baseline?",
        "The same random initialisation every variant starts from, adapted to each test task with "
        "the same inner steps but never meta-trained. Meta-learning is worth its cost only above it.",
    ),
]


def update_rules() -> None:
    """The inner step, MAML's outer step with its Hessian term, FOMAML's outer step."""
    st.markdown(r"""
    MAML (Finn et al., 2017) learns an initialisation $\theta$ from which a few gradient steps on a new
    task's **support** set give a model that does well on that task's **query** set.

    **Inner step** (per task $\mathcal{T}_i$, repeated $k$ times, learning rate $\alpha$):
    """)
    st.latex(r"\theta'_i \;=\; \theta - \alpha\, \nabla_\theta \mathcal{L}^{\text{support}}_{\mathcal{T}_i}(\theta)")
    st.markdown(r"**MAML outer step** (learning rate $\beta$): the gradient flows *through* the inner loop.")
    st.latex(
        r"\theta \;\leftarrow\; \theta - \beta \sum_i \nabla_\theta\, \mathcal{L}^{\text{query}}_{\mathcal{T}_i}"
        r"(\theta'_i) \;=\; \theta - \beta \sum_i \underbrace{\Big(I - \alpha\, \nabla^2_\theta "
        r"\mathcal{L}^{\text{support}}_{\mathcal{T}_i}(\theta)\Big)}_{\text{Hessian term}}\;"
        r"\nabla_{\theta'} \mathcal{L}^{\text{query}}_{\mathcal{T}_i}(\theta'_i)"
    )
    st.markdown(r"""
    With $k$ inner steps the Hessian term is a product $\prod_{j=0}^{k-1}\big(I - \alpha
    \nabla^2 \mathcal{L}^{\text{support}}(\theta^{(j)})\big)$: backpropagating through it needs every inner
    step's activations kept in memory, and one Hessian-vector product per step.

    **FOMAML outer step**: treat $\theta'_i$ as if it did not depend on $\theta$, i.e. replace the Hessian
    term by $I$. The gradient is simply the query gradient *at the adapted parameters*:
    """)
    st.latex(
        r"\theta \;\leftarrow\; \theta - \beta \sum_i \nabla_{\theta'} "
        r"\mathcal{L}^{\text{query}}_{\mathcal{T}_i}(\theta'_i)"
    )


RULES = {  # each algorithm's outer update in symbols, two short lines (a phone's width); words in the variant table
    "maml": r"\begin{gathered} g = \nabla_\theta\, \mathcal{L}^{q}\big(\phi_K(\theta)\big) \\ "
    r"\phi_{k+1} = \phi_k - \alpha \nabla \mathcal{L}^{s}(\phi_k),\ \phi_0 = \theta \end{gathered}",
    "fomaml": r"\begin{gathered} g = \nabla_{\phi}\, \mathcal{L}^{q}(\phi)\big|_{\phi = \phi_K} \\ "
    r"\text{the same inner steps as MAML} \end{gathered}",
    "reptile": r"\begin{gathered} g = \frac{\theta - \phi_K}{\alpha} = "
    r"\sum_{k<K} \nabla \mathcal{L}^{s \cup q}(\phi_k) \\ "
    r"\phi_{k+1} = \phi_k - \alpha \nabla \mathcal{L}^{s \cup q}(\phi_k) \end{gathered}",
    "anil": r"\begin{gathered} g = \nabla_\theta\, \mathcal{L}^{q}\big(\theta_{\text{body}},\, w_K(\theta)\big) \\ "
    r"w_{k+1} = w_k - \alpha \nabla_w \mathcal{L}^{s}(\theta_{\text{body}}, w_k),\ w_0 = \theta_{\text{head}} "
    r"\end{gathered}",
    "metasgd": r"\begin{gathered} g = \nabla_{(\theta,\, \mathbf{a})}\, \mathcal{L}^{q}(\phi_K) \\ "
    r"\phi_{k+1} = \phi_k - \mathbf{a} \odot \nabla \mathcal{L}^{s}(\phi_k) \end{gathered}",
    "mamlpp": r"\begin{gathered} g = \nabla_{(\theta,\, a,\, \gamma,\, \beta)} \sum_{k=1}^{K} v_k\, "
    r"\mathcal{L}^{q}(\phi_k;\, \gamma_k, \beta_k) \\ "
    r"\phi_{k+1} = \phi_k - a_{\ell,k} \nabla \mathcal{L}^{s}(\phi_k;\, \gamma_k, \beta_k) \end{gathered}",
}

SYMBOLS = {
    "anil": "$w$: the head's weights, the only ones the inner loop changes.",
    "metasgd": "$\\mathbf{a}$: the learned step sizes, one per weight, meta-learned with $\\theta$.",
    "mamlpp": "$v_k$: the multi-step loss's weights (annealed to the last step); $a_{\\ell,k}$: layer "
    "$\\ell$'s learned step size at step $k$; $\\gamma_k, \\beta_k$: step $k$'s batch-norm weights and biases.",
}
TASK_CODE = {  # where each algorithm's training step is: one task's objective (first order: its gradients)
    "maml": ("engine.algorithms.maml", "MAML.task"),
    "fomaml": ("engine.algorithms.maml", "FOMAML.task"),
    "reptile": ("engine.algorithms.reptile", "Reptile.task"),
    "anil": ("engine.algorithms.anil", "ANIL.task"),
    "metasgd": ("engine.algorithms.metasgd", "MetaSGD.task"),
    "mamlpp": ("engine.algorithms.mamlpp", "MAMLPlusPlus.task"),
}


def the_family() -> None:
    """One short section per algorithm of the variant table: its rule, what it drops or adds, its paper and its
    published Omniglot figures, and the code that trains it here."""
    st.subheader("The family: what each algorithm drops or adds")
    st.markdown(
        "Every algorithm below trains here on the same tasks from the same initialisation, through the same inner "
        "loop, and is timed and measured the same way (pick them in the sidebar). $\\mathcal{L}^{s}$, "
        "$\\mathcal{L}^{q}$: a task's support and query losses; $g$: the meta-gradient that the outer Adam step "
        "follows, averaged over the tasks of a meta-batch."
    )
    names = list(variants.VARIANTS)
    for tab, name in zip(st.tabs([variants.label(n) for n in names]), names):
        v = variants.get(name)
        with tab:
            if name in RULES:
                st.latex(RULES[name])
            if name in SYMBOLS:
                st.caption(SYMBOLS[name])
            st.markdown(f"**Update.** {v.rule[0].upper() + v.rule[1:]}.  \n**Adapts** {v.adapts}.")
            if v.changes:
                st.markdown(f"**What it drops or adds.** {v.changes[0].upper() + v.changes[1:]}.")
            if v.paper:
                st.markdown(f"**Paper.** {v.paper}.")
            for line in v.published:
                st.markdown(f"- Published: {line}.")
            if v.published:
                st.caption(
                    "Published figures come from long training on GPUs (tens of thousands of meta-iterations); "
                    "the runs here are short and often on a CPU: compare the order and the costs, not the level."
                )
            if name in TASK_CODE:
                with st.expander(f"The code that trains {v.label} here (one task's step)"):
                    st.code(source.function_source(*TASK_CODE[name]), language="python", wrap_lines=True)


def side_by_side() -> None:
    """The variants compared in words, one column each, with measured rows from a run record the reader picks."""
    st.subheader("Side by side")
    compares = [r for _, r in _state.of_kind("compare") if all(res["test"] for res in r["results"].values())]
    choice = None
    if compares:
        titles = [f"{_state.run_title(r)} · {r['environment']['device_name']} · {r['created'][:10]}" for r in compares]
        values = {k: st.session_state.get(k) for k in _state.SAME_SETTINGS} if "inner_lr" in st.session_state else None
        if values and isinstance(values.get("algorithms"), list):  # the sidebar's multiselect holds a list
            values["algorithms"] = ",".join(values["algorithms"])
        if values:
            values["time_budget_s"] = values.get("time_budget_s") or None  # 0 in the sidebar means none
        picked = _state.pick_compare(values)
        first = next((i for i, r in enumerate(compares) if picked and r["id"] == picked[1]["id"]), 0)
        choice = compares[
            st.selectbox("Numbers from run record", range(len(compares)), index=first, format_func=titles.__getitem__)
        ]
    names = variants.in_record(choice) if choice else list(variants.DEFAULT)

    def measured(key, fmt):
        if choice is None:
            return ["– (no run record yet)"] + ["–"] * (len(names) - 1)
        return [fmt(choice["results"][n][key]) if choice["results"][n][key] is not None else "–" for n in names]

    rows = [
        ("gradient of the outer step", [variants.get(n).rule for n in names]),
        ("inner loop adapts", [variants.get(n).adapts for n in names]),
        ("measured time per meta-iteration", measured("per_iteration_ms", lambda v: f"{v:.1f} ms")),
        ("measured memory held for backprop (exact)", measured("autograd_saved_bytes", report.fmt_bytes)),
        (
            f"measured {report.peak_words(choice) if choice else 'device peak'}",
            measured("peak_memory_bytes", report.fmt_bytes),
        ),
        ("measured test accuracy (95 % CI)", measured("test", report.fmt_accuracy)),
    ]
    head = "| | " + " | ".join(variants.label(n) for n in names) + " |"
    lines = [head, "|---" * (len(names) + 1) + "|"] + [
        f"| {what} | " + " | ".join(cells) + " |" for what, cells in rows
    ]
    st.markdown("\n".join(lines))
    if choice is not None:
        st.caption(
            f"Measured in run “{_state.run_title(choice)}”: {'; '.join(report.ratio_words(compare_numbers(choice)))}. "
            f"{choice['environment']['device_name']}, {choice['protocol']['task']}, "
            f"{choice['protocol']['train_inner_steps']} inner step(s); memory: {choice['protocol']['memory']}. "
            "See the Scaling page for how the gap grows with inner steps."
        )


def _sweep_over(over: str) -> dict | None:
    """The newest sweep over ``over`` that measured the alignment, if any."""
    return next(
        (
            r
            for _, r in _state.of_kind("sweep")
            if r["protocol"]["over"] == over and any(p["cosine"] is not None for p in r["points"])
        ),
        None,
    )


def measured_lessons() -> list[str]:
    """What the app's own records say about when the shortcut loses, each sentence naming its record."""
    out = []
    lr = _sweep_over("inner_lr")
    if lr:
        pts = sorted((p["inner_lr"], p["cosine"]) for p in lr["points"] if p["cosine"] is not None)
        out.append(
            f"**The inner learning rate decides it.** In the sweep “{_state.run_title(lr)}” the cosine between MAML's "
            f"and FOMAML's meta-gradients at the initialisation goes from {pts[0][1]:+.3f} at α = {pts[0][0]:g} to "
            f"{pts[-1][1]:+.3f} at α = {pts[-1][0]:g}: with a tiny step the Hessian term is negligible and the two "
            "agree; with the large steps that few-shot Omniglot uses they point in nearly unrelated directions."
        )
    steps = _sweep_over("inner_steps")
    if steps:
        cos = [p["cosine"] for p in steps["points"] if p["cosine"] is not None]
        out.append(
            f"**More inner steps do not by themselves make them disagree more.** In “{_state.run_title(steps)}” "
            f"(α = {steps['config']['inner_lr']:g}) the cosine stays between {min(cos):+.2f} and {max(cos):+.2f} from "
            f"{min(p['inner_steps'] for p in steps['points'])} to {max(p['inner_steps'] for p in steps['points'])} "
            "inner steps, while MAML's memory grows with every step (the Scaling page)."
        )
    study = next((r for _, r in _state.of_kind("study") if "inner_steps" in r["protocol"]["grid"]), None)
    if study:
        lines = "; ".join(f"{report.setting_words(s['setting'])}: {report.verdicts(s)[0]}" for s in study["settings"])
        out.append(
            f"**Whether second order pays off depends on the setting, and one seed can mislead.** The study "
            f"“{_state.run_title(study)}” ({len(study['protocol']['seeds'])} seeds each) found: {lines}."
        )
    out.append(
        "**Why the difference can be larger than MAML's gradient itself.** When two vectors are nearly "
        "orthogonal, the length of their difference is about √(|a|² + |b|²), more than either; so a shortcut "
        "whose gradient is at right angles to MAML's leaves out a part larger than MAML's whole gradient "
        "(the alignment charts show it above 100 %). That is a measurement, not an error."
    )
    demo = _state.pick_compare(None)
    own = (demo[1]["results"].get("fomaml") or {}).get("alignment") if demo else None
    if own and own["reference"] == "maml" and "fomaml" in own["variants"]:
        g = demo[1]["results"]["fomaml"]["alignment"]["variants"]["fomaml"]["cosine"]
        out.append(
            f"**How FOMAML still learns while pointing elsewhere.** Its gradient is the exact gradient of the query "
            "loss at the adapted parameters: it lowers the loss after adaptation, only not by MAML's route. Along "
            f"FOMAML's own training in “{_state.run_title(demo[1])}” the cosine with MAML's gradient rises from "
            f"{g[0]:+.2f} to {g[-1]:+.2f}: FOMAML moves to where the shortcut becomes accurate."
        )
    return out


def batch_norm_modes() -> None:
    st.subheader("Batch norm: which statistics the queries see")
    st.markdown("""
    Every block normalises its activations with the mean and variance of the batch it sees, and keeps no
    running averages. Finn et al. and the seed tutorial run a task's queries through the network **as one
    batch**: each query is normalised with statistics computed from *all* the queries of its task. That is
    *transductive*: the prediction for one query depends on the others, so a test set of 75 queries is not 75
    independent predictions, and the query batch leaks a little information about its classes (there are
    exactly as many queries of each class). It is the default here, because it is what the figures being
    compared used.

    The other mode, **support statistics** (`batch_norm: support`), normalises every query with the statistics
    of its task's support set, after the same adaptation, at training and at test: each query is classified on
    its own, as it would be in use, one image at a time. Records say which mode they ran in (their protocol's
    `batch_norm`); compare like with like. The code: the support images run through the network beside the
    queries, and every batch norm takes its statistics from them (`n_stats`):
    """)
    st.code(source.function_source("engine.model", "batch_norm"), language="python", wrap_lines=True)


def intuition_and_advice() -> None:
    st.subheader("Intuition")
    st.markdown("""
    The Hessian term tells MAML how a change of the initialisation changes *where the inner loop ends
    up*. FOMAML ignores that and moves the initialisation towards parameters that are good after
    adaptation, as if adaptation were a fixed shift. When the inner step is small the Hessian term is
    close to the identity and the two agree. What the app has measured about when that stops being true:
    """)
    for line in measured_lessons():
        st.markdown(f"- {line}")

    st.subheader("When to use which")
    st.markdown("""
    - **FOMAML** when memory is the limit (many inner steps, large models), when iterations are the
      bottleneck, or to explore hyper-parameters quickly; check its accuracy against MAML once.
    - **MAML** when the last points of accuracy matter and the inner loop is short enough to afford
      differentiating through it; it is also the reference that first-order methods are judged by.
    - Decide on *your* numbers: the Compare page measures both on the same tasks and computes a
      recommendation from the measured time, memory and accuracy.
    """)


def engine_code() -> None:
    """The engine's own functions, read from its source at page load."""
    st.subheader("The code that runs")
    st.markdown(
        "Read from the engine's source file at page load, so it is always what the app executes. "
        "The inner loop (one task):"
    )
    st.code(source.function_source("engine.inner", "adapt"), language="python", wrap_lines=True)
    st.markdown(
        "The vectorized meta-gradient, for every algorithm of the family (each one's `task` is in the family's "
        "section above): second order differentiates through the tasks' inner loops at once (`grad` of `vmap`); "
        "first order takes each task's own gradients, at its adapted parameters (`vmap` of `grad`):"
    )
    st.code(source.function_source("engine.meta", "_vmap_meta_gradient"), language="python", wrap_lines=True)
    with st.expander("The per-task loop (plain autograd): what runs on CPU, and the fast path's reference"):
        st.code(source.function_source("engine.meta", "_loop_meta_gradient"), language="python", wrap_lines=True)
    with st.expander("Batch norm from primitives (why not F.batch_norm)"):
        st.markdown(
            "Under `vmap`, `F.batch_norm`'s second-order gradient is wrong (functorch issue 534): the "
            "vectorized paths use the function shown in the batch-norm section above."
        )


def faq() -> None:
    st.subheader("FAQ")
    for question, answer in FAQ:
        with st.expander(question):
            st.markdown(answer)


st.title("Theory: what each shortcut drops or adds")
update_rules()
the_family()
side_by_side()
batch_norm_modes()
intuition_and_advice()
engine_code()
faq()
