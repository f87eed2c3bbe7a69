"""mamlviz: MAML vs first-order MAML on Omniglot, trained side by side and measured live."""
import streamlit as st

from pages import common

st.set_page_config(page_title="mamlviz: MAML vs FOMAML", page_icon="🧠", layout="wide")

page = st.navigation([
    st.Page("pages/compare.py", title="Compare", icon="⚖️", default=True),
    st.Page("pages/theory.py", title="Theory", icon="📐"),
    st.Page("pages/scaling.py", title="Scaling", icon="📈"),
    st.Page("pages/history.py", title="History", icon="🗂️"),
])

caps = common.capabilities()
with st.sidebar:
    running = common.registry().running()
    if running is not None:
        st.caption(f"Server: a {running.kind} run is in progress ({running.label or running.id}).")
    if caps.hosted:
        st.caption(f"Hosted mode · {caps.reason}")
    else:
        st.caption(caps.reason)

page.run()
