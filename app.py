"""mamlviz: MAML vs first-order MAML on Omniglot, trained side by side and measured live."""

import streamlit as st

from views import common

st.set_page_config(page_title="mamlviz: MAML vs FOMAML", page_icon=":material/psychology:", layout="wide")

page = st.navigation(
    [
        st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", default=True),
        st.Page("views/theory.py", title="Theory", icon=":material/functions:"),
        st.Page("views/scaling.py", title="Scaling", icon=":material/show_chart:"),
        st.Page("views/adapt.py", title="Adaptation", icon=":material/model_training:"),
        st.Page("views/history.py", title="History", icon=":material/history:"),
    ]
)

# Streamlit's animated "running" indicator shows on every live redraw; on 2 cores a browser drawing it once
# a second slowed training by about 10 % more than the rest of the live view (bench/live_overhead.py).
st.html("<style>[data-testid='stStatusWidget']{display:none}</style>")
caps = common.capabilities()
with st.sidebar:
    running = common.registry().running()
    if running is not None:
        st.caption(f"Server: a {running.kind} run is in progress ({running.label or running.id}).")
    st.caption(
        ("Hosted mode · " if caps.hosted else "")
        + caps.device_name
        + ("" if caps.live_training else " · live training off")
    )

page.run()
