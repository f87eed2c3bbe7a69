"""mamlviz: MAML and its shortcuts on Omniglot, trained side by side and measured live."""

import streamlit as st

from mamlviz import settings
from views import _live, _state

# the icon is an emoji: a Material icon is fetched from an outside host, which a hosted or offline copy must not need
st.set_page_config(page_title="mamlviz: MAML and its shortcuts", page_icon="🧠", layout="wide")

page = st.navigation(
    [
        st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", default=True),
        st.Page("views/theory.py", title="Theory", icon=":material/functions:"),
        st.Page("views/claims.py", title="Claims", icon=":material/fact_check:"),
        st.Page("views/scaling.py", title="Scaling", icon=":material/show_chart:"),
        st.Page("views/adapt.py", title="Adaptation", icon=":material/model_training:"),
        st.Page("views/study.py", title="Studies", icon=":material/grid_view:"),
        st.Page("views/history.py", title="History", icon=":material/history:"),
    ]
)

# Animations repainted on every live redraw cost a 2-core machine's training most of the live view's price
# (bench/live_overhead.py): Streamlit's "running" indicator is hidden and progress bars jump, not glide.
st.html(
    "<style>[data-testid='stStatusWidget']{display:none}"
    "[data-testid='stProgress'] *{transition:none!important;animation:none!important}</style>"
)
caps = _state.capabilities()
with st.sidebar:
    for problem in settings.problems():  # a typo in an environment setting: named, and its default used
        st.warning(problem)
    registry = _state.registry()
    _live.jobs_view(registry)
    st.caption(_live.where_runs_go(registry))
    st.caption(
        ("Hosted mode · " if caps.hosted else "")
        + caps.device_name
        + ("" if caps.live_training else " · live training off")
    )

page.run()
