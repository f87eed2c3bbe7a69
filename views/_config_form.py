"""The Compare page's sidebar: presets and one widget per config field, from the field table; errors
under the field they name; Start, which validates the config once and hands it to the job queue."""

from __future__ import annotations

import time
from types import SimpleNamespace

import streamlit as st

from mamlviz import estimate, presets, settings, variants
from mamlviz.config import BY_NAME, FIELDS, RunConfig, validation_errors
from views import _state
from views._state import owner

DEFAULT = "Default for this machine"
# Live training on a hosted CPU stays small, so that one visitor cannot hold the server for long.
HOSTED_CPU_LIMITS = {"train_tasks": 4000, "eval_tasks": 400, "inner_steps": 5, "meta_batch": 16, "n_way": 20}
SIDEBAR_FIELDS = [f for f in FIELDS if f.group in ("basic", "advanced")]  # numbers, and choices (select boxes)


def devices(caps) -> list[str]:
    return ["auto", "cpu"] + (["cuda"] if caps.cuda else [])


def apply_config(cfg: RunConfig, caps) -> None:
    """Put ``cfg`` into the sidebar's widgets (a time budget of None shows as 0)."""
    for f in SIDEBAR_FIELDS:
        v = getattr(cfg, f.name)
        st.session_state[f.name] = 0.0 if v is None else v
    st.session_state["algorithms"] = cfg.variants
    st.session_state["device"] = cfg.device if cfg.device in devices(caps) else "auto"


def apply_preset(caps) -> None:
    choice = st.session_state["preset"]
    apply_config(presets.default_for(caps.cuda) if choice == DEFAULT else presets.PRESETS[choice], caps)


def number_widget(container, f):
    """The input for config field ``f`` (a number, or a choice); returns the slot under it where its error goes."""
    if f.choices:
        container.selectbox(f.label, f.choices, key=f.name, help=f.help or None)
        return container.empty()
    lo = f.widget_min if f.widget_min is not None else f.lo
    container.number_input(
        f.label,
        key=f.name,
        help=f.help or None,
        min_value=f.type(lo),
        max_value=f.type(f.hi),
        step=f.type(f.step),
        **({"format": f.fmt} if f.fmt else {}),
    )
    return container.empty()


def algorithms_widget():
    """Which variants race: any of the variant table's, MAML against FOMAML by default."""
    f = BY_NAME["algorithms"]
    st.multiselect(f.label, list(f.options), key="algorithms", format_func=variants.label, help=f.help)
    return st.empty()


def settings_sidebar(caps) -> tuple[dict, dict]:
    """Presets and every config field; returns (values, error slot per field)."""
    with st.sidebar:
        st.header("Run settings")
        st.selectbox(
            "Preset",
            [DEFAULT, *presets.PRESETS],
            key="preset",
            on_change=apply_preset,
            args=(caps,),
            help="Fills in the settings below; you can change any of them afterwards.",
        )
        slots = {"algorithms": algorithms_widget()}
        slots.update({f.name: number_widget(st, f) for f in SIDEBAR_FIELDS if f.group == "basic"})
        with st.expander("Advanced"):
            slots.update({f.name: number_widget(st, f) for f in SIDEBAR_FIELDS if f.group == "advanced"})
            device = BY_NAME["device"]
            st.selectbox(device.label, devices(caps), key="device", help=device.help)
            slots["device"] = st.empty()
    values = {f.name: st.session_state[f.name] for f in SIDEBAR_FIELDS}
    values["time_budget_s"] = values["time_budget_s"] or None
    values["algorithms"] = ",".join(st.session_state["algorithms"])
    values["device"] = st.session_state["device"]
    return values, slots


def setting_errors(values: dict, caps) -> dict[str, str]:
    """Field -> what is wrong with it, from RunConfig's rules and, when hosted on CPU, the size limits."""
    errors = {e.field: str(e).split(": ", 1)[1] for e in validation_errors(SimpleNamespace(path="auto", **values))}
    if caps.live_training and not caps.cuda and caps.hosted:
        for name, limit in HOSTED_CPU_LIMITS.items():
            if values[name] > limit and name not in errors:
                errors[name] = f"at most {limit} for live training on this server's CPU, got {values[name]}"
    return errors


def start_button(values: dict, errors: dict, caps, registry) -> None:
    """Start validates the settings once, into a RunConfig, and submits the job (queued behind another
    session's run, if one is going).

    The button keeps one key and one label whatever the server is doing, so a click made on a page
    drawn before another session started its run is still this button's click."""
    mine = registry.get(st.session_state.get("job_id"))
    running = registry.running()
    busy = running is not None and (mine is None or running.id != mine.id)
    unsaveable = registry.unwritable_reason() if caps.live_training else None
    with st.sidebar:
        if not caps.live_training:
            st.warning(caps.reason)
        start = st.button(
            "Start",
            key="start",
            type="primary",
            width="stretch",
            disabled=bool(errors) or not caps.live_training or bool(mine and mine.active) or bool(unsaveable),
            help="Trains the chosen algorithms side by side on the same tasks, one meta-iteration of each in turn; "
            "then evaluates them.",
        )
        if errors:
            st.caption("Fix the settings marked in red to enable Start.")
        elif unsaveable:
            st.error(
                f"Run records cannot be saved, so Start is off: {unsaveable}. "
                "Set MAMLVIZ_RUNS_DIR to a folder this server can write."
            )
        elif busy:
            st.caption("Another run is in progress: Start queues yours behind it.")
        if not errors and caps.live_training:
            cfg = RunConfig(**values)
            found = [(p.name, r) for p, r in _state.all_records()[0]]
            st.caption(
                estimate.words(
                    cfg, estimate.estimate(cfg, found, caps.cuda), here=caps.device_name if caps.cuda else None
                )
            )
    if start:
        cfg = RunConfig(**values)
        who = " vs ".join(variants.label(n) for n in cfg.variants)
        when = time.strftime("%H:%M:%S")  # two runs of one config get different names
        setting = f"{cfg.n_way}-way {cfg.k_shot}-shot, {cfg.inner_steps} inner step(s), {cfg.train_tasks} tasks"
        label = f"{who} · {setting} · {when}"
        st.session_state["job_id"] = registry.submit("compare", cfg, label=label, owner=owner()).id
        st.rerun()  # draw the page again with Start disabled and the live view


def refresh_period() -> float:
    """The live view's redraw period: MAMLVIZ_REFRESH_S, else once a second, which keeps the curves moving
    while costing training at most about 15 % on 2 cores with the tab open (bench/live_overhead.py)."""
    return settings.get("MAMLVIZ_REFRESH_S")
