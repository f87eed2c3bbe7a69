"""Claims: the seed tutorial's four headline claims, each beside what this project measured on its protocol, with
a verdict, the records it rests on, and what still differs. Every figure comes from a run record."""

import streamlit as st

from mamlviz import claims, presets
from mamlviz.charts import compare as charts
from mamlviz.charts import label
from views import _state


def verdict_box(claim: claims.Claim) -> None:
    box = {True: st.success, False: st.error, None: st.info}[claim.holds]
    box(f"**{claim.verdict}**")


def one_claim(claim: claims.Claim) -> None:
    with st.container(border=True):
        st.markdown(f"### “{claim.claim}”")
        left, right = st.columns(2)
        left.markdown(f"**The tutorial:** {claim.tutorial}")
        right.markdown(f"**Measured here:** {claim.measured}")
        verdict_box(claim)
        for e in claim.evidence:
            st.caption(f"Record {e}")


def accuracy_against_time(roles: dict) -> None:
    """The held-out accuracy of each as it trained, fair by time: what "trained longer" bought."""
    if "equal_time" not in roles:
        return
    name, rec = roles["equal_time"]
    fig = charts.validation_of(rec)
    if fig is None:
        return
    st.markdown("#### Would FOMAML catch up if it trained as long as MAML?")
    st.plotly_chart(fig, key="claims-validation")
    st.caption(f"{name}: fair by time ({rec['protocol']['fairness']}). {label(rec)}.")


st.title("The seed tutorial's claims, tested")
st.markdown(
    f"This project began as an answer to a tutorial, {claims.SOURCE}. Below, each of its four headline claims "
    "stands beside "
    "what this project measured **on the tutorial's protocol**: the original 105×105 images, 5-way 1-shot with 15 "
    "queries per class, 200 training tasks in meta-batches of 4, 5 inner steps at 0.01, 100 test tasks. Every "
    "measured figure comes from a run record named under it."
)
found = [(p.name, r) for p, r in _state.all_records()[0]]
roles = claims.find(found)
verdicts = claims.assess(roles)
if not verdicts:
    st.info(
        "No record of the tutorial's protocol yet. On the Compare page choose the preset "
        f"“{next(k for k, v in presets.PRESETS.items() if v is presets.SEED_EXPERIMENT)}” and press Start; "
        "the sidebar says how long it will take."
    )
else:
    for claim in verdicts:
        one_claim(claim)
    accuracy_against_time(roles)
with st.expander("Where the tutorial's protocol still differs from these records"):
    for d in claims.DIFFERENCES:
        st.markdown(f"- {d}")
