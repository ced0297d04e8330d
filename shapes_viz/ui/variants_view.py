"""The Model tab's variants: could fewer layers do as well? The results of `python -m shapes_viz variants`
(models/variants/results.json, shipped with their seed-0 models), and any variant opened in this session only.

Opening a variant points this session's model at models/variants/<name>.h5 (`state.VARIANT`, read by
`resources.model_path`): every view then shows it, the other sessions keep the published model.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from shapes_viz.artifacts import VARIANT_RESULTS, read_results
from shapes_viz.figures.variants import accuracy_vs_params, validation_curves
from shapes_viz.ui import i18n, resources, state
from shapes_viz.ui.i18n import t
from shapes_viz.ui.safety import guarded_callback


def render_variants() -> None:
    """The comparison table, accuracy against parameters, the validation curves, and the open/close buttons."""
    st.markdown(t("variants.title"))
    results = read_results(resources.variants_folder() / VARIANT_RESULTS).get("variants") or {}
    opened = st.session_state.get(state.VARIANT)
    if opened:
        st.info(t("variants.opened", name=_title(opened, results.get(opened) or {})))
        st.button(t("variants.close"), key=state.VARIANT_CLOSE, on_click=_open, args=(None,))
    if not results:
        st.caption(t("variants.none"))
        return
    names = list(results)
    rows = [results[name] for name in names]
    st.dataframe(
        {
            t("variants.col_variant"): [_title(name, row) for name, row in zip(names, rows)],
            t("variants.col_params"): [row.get("params") for row in rows],
            t("variants.col_madds"): [row.get("multiply_adds") for row in rows],
            t("variants.col_test"): [_pct(row.get("test_accuracy")) for row in rows],
            t("variants.col_browser"): [_pct(row.get("browser_accuracy")) for row in rows],
            t("variants.col_dead"): [_pct(row.get("dead_share")) for row in rows],
            t("variants.col_latency"): [_number(row.get("latency_ms"), 2) for row in rows],
            t("variants.col_seconds"): [_number(row.get("seconds"), 0) for row in rows],
        },
        hide_index=True, width="stretch", key="variants_table",
    )
    for name, row in zip(names, rows):
        st.caption(t("variants.caption", title=_title(name, row), description=_description(name, row)))
    left, right = st.columns(2)
    with left:
        st.plotly_chart(accuracy_vs_params(
            names, [row.get("params") or 1 for row in rows], [_mean(row.get("test_accuracy")) for row in rows],
            [(row.get("test_accuracy") or {}).get("spread", 0.0) for row in rows],
            [_mean(row.get("browser_accuracy")) if row.get("browser_accuracy") else None for row in rows],
            title=t("variants.chart_title"), accuracy_label=t("variants.col_test"),
            held_out_label=t("variants.col_browser"), params_label=t("variants.params_axis"),
        ), key="variants_scatter", width="stretch")
    with right:
        curves = {name: [run.get("val_accuracy") or [] for run in row.get("runs", []) if "error" not in run]
                  for name, row in zip(names, rows)}
        st.plotly_chart(validation_curves(curves, title=t("variants.curves_title"), epoch_label=t("variants.epoch"),
                                          accuracy_label=t("variants.val_accuracy")),
                        key="variants_curves", width="stretch")
    available = [name for name in names if resources.variant_file(name) is not None]
    if available:
        columns = st.columns(len(available))
        for column, name in zip(columns, available):
            column.button(_title(name, results[name]), key=f"{state.VARIANT_OPEN}_{name}", on_click=_open,
                          args=(name,), help=t("variants.open_help"), disabled=name == opened, width="stretch")


def _title(name: str, row: dict[str, Any]) -> str:
    """A variant's name in the session's language (the catalogue's), else as the results file says."""
    key = f"variants.names.{name}"
    return t(key) if key in i18n.catalogue(i18n.DEFAULT) else str(row.get("title", name))


def _description(name: str, row: dict[str, Any]) -> str:
    key = f"variants.descriptions.{name}"
    return t(key) if key in i18n.catalogue(i18n.DEFAULT) else str(row.get("description", ""))


@guarded_callback("variants")
def _open(name: str | None) -> None:
    """Open a variant in this session (None: back to the published model); the views follow at the rerun."""
    st.session_state[state.VARIANT] = name
    st.session_state[state.CELL] = None
    st.session_state[state.KNOCKOUT] = None


def _mean(value: dict[str, float] | None) -> float:
    return float(value["mean"]) if value else float("nan")


def _pct(value: dict[str, float] | None) -> str:
    if not value:
        return "n/a"
    return f"{value['mean']:.1%} ± {value.get('spread', 0.0) / 2:.1%}"


def _number(value: dict[str, Any] | None, digits: int) -> str:
    return f"{value['mean']:.{digits}f}" if value else "n/a"
