"""English and French: every text the page shows comes from one catalogue per language, through `t`.

    t(key, **values)       the text of `key` in the session's language, its {placeholders} filled with `values`
                           (numbers stay numbers: the catalogue formats them, e.g. "{p:.1%}")
    language()             "en" or "fr": the session's choice (the sidebar's selector, a shared link's `lang`), else
                           the browser's (`st.context.locale`), else English
    tab_labels(key, ...)   a tab bar's labels in the session's language, its stored value moved to that language
    error_text(exc)        a core exception's (or a job's) message in the session's language: "errors.<code>"
                           filled with the values the exception carries (`errors.ShapesVizError`), else its English

The catalogues are plain TOML files (`locales/en.toml`, `locales/fr.toml`), read once per process; a section
`[explorer]` with `range_help = "..."` is the key "explorer.range_help". Widget values and session state never
depend on the language (layer names, class indices, method ids, English option ids shown via `format_func`);
only tab bars hold a label, which `tab_labels` moves to the language before the tabs are drawn and `tab_id`
reads back as the English label (the id the code compares with).
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from string import Formatter

import streamlit as st

from shapes_viz.errors import ShapesVizError
from shapes_viz.ui import state

LANGUAGES = {"en": "English", "fr": "Français"}  # each language's name in itself (the selector's options)
DEFAULT = "en"
_BOUND: ContextVar[str | None] = ContextVar("shapes_viz_language", default=None)  # see `bound`
LOCALES = Path(__file__).with_name("locales")
log = logging.getLogger("shapes_viz.ui")


@cache
def catalogue(lang: str) -> dict[str, str]:
    """{key: text} of `lang`, from locales/<lang>.toml (read once per process).

    Raises:
        ValueError: an unknown language, or a value that is not text.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"Unknown language; known: {sorted(LANGUAGES)}. Received: lang={lang!r}")
    with (LOCALES / f"{lang}.toml").open("rb") as file:
        return dict(_flatten(tomllib.load(file)))


def _flatten(table: dict, prefix: str = ""):
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _flatten(value, key + ".")
        elif isinstance(value, str):
            yield key, value
        else:
            raise ValueError(f"Catalogue values are text. Received: {key}={value!r}")


def placeholders(text: str) -> set[str]:
    """The named placeholders of a catalogue text: "{p:.1%} of {name}" -> {"p", "name"}."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in Formatter().parse(text) if field}


def text(lang: str, key: str, /, **values: object) -> str:
    """The text of `key` in `lang`, formatted with `values` (English when `lang` lacks it). A value that is an
    exception fills its placeholder with its message in `lang` (`error_text`): t("where.no_data", error=exc).

    Raises:
        KeyError: no catalogue has `key` (a bug: tests/test_i18n.py checks every key the code uses).
    """
    found = catalogue(lang).get(key)
    if found is None:
        found = catalogue(DEFAULT)[key]
    values = {name: _error_text(lang, value) if isinstance(value, BaseException) else value
              for name, value in values.items()}
    return found.format(**values)


def error_text(exc_or_code: BaseException | str | None, values: Mapping[str, object] | None = None,
               fallback: str = "") -> str:
    """A message from the core (an exception's, a training job's) in the session's language.

    Args:
        exc_or_code: an exception (its `code` and `values`, see `errors.ShapesVizError`; its English message is the
            fallback unless one is given), or a message's code (str; None or "": no code).
        values: the values that fill the code's text (plain data: str, int, float, bool, None); with an exception,
            they replace its own.
        fallback: the English message, shown when the catalogue has no "errors.<code>" or the values do not fit it.

    Returns:
        t("errors.<code>", **values) when the catalogue has that key and the values fill it, else the fallback.

    Raises:
        TypeError: `exc_or_code` is not an exception, a str or None, or `values` is not a mapping.
    """
    return _error_text(language(), exc_or_code, values, fallback)


def _error_text(lang: str, exc_or_code: BaseException | str | None, values: Mapping[str, object] | None = None,
                fallback: str = "") -> str:
    if isinstance(exc_or_code, BaseException):  # only the project's own exceptions have message codes
        code = exc_or_code.code if isinstance(exc_or_code, ShapesVizError) else None
        values = (exc_or_code.values if isinstance(exc_or_code, ShapesVizError) else None) if values is None else values
        fallback = fallback or str(exc_or_code)
    elif exc_or_code is None or isinstance(exc_or_code, str):
        code = exc_or_code
    else:
        raise TypeError(f"Expected an exception, a message code or None. Received: {type(exc_or_code).__name__} "
                        f"{exc_or_code!r}")
    if values is not None and not isinstance(values, Mapping):
        raise TypeError(f"Message values are a mapping. Received: {type(values).__name__} {values!r}")
    key = f"errors.{code}"
    if not code or key not in catalogue(DEFAULT):
        return fallback
    try:
        return text(lang, key, **dict(values or {}))
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:  # values that do not fit the text
        log.log(logging.WARNING, "the values %r do not fill %s (%s): shown in English", values, key, exc)
        return fallback


def browser_language() -> str:
    """The browser's language if the app has it (navigator.language "fr-FR" -> "fr"), else English."""
    try:
        locale = st.context.locale
    except Exception:  # noqa: BLE001 - no browser (AppTest, bare runs): English
        return DEFAULT
    if isinstance(locale, str) and locale:
        code = re.split(r"[-_]", locale.strip())[0].lower()
        if code in LANGUAGES:
            return code
    return DEFAULT


def language() -> str:
    """The session's language: its explicit choice, else the browser's."""
    if _BOUND.get() is not None:
        return _BOUND.get()
    try:
        chosen = st.session_state.get(state.LANGUAGE)
    except Exception:  # noqa: BLE001 - outside a script run
        chosen = None
    return chosen if chosen in LANGUAGES else browser_language()


def set_language(lang: str) -> None:
    """Make `lang` the session's language (ignored unless it is one of LANGUAGES)."""
    if lang in LANGUAGES:
        st.session_state[state.LANGUAGE] = lang


def bound(func: Callable[[object], str]) -> Callable[[object], str]:
    """`func` (a widget's format_func) tied to this run's language: Streamlit may call it where session state cannot
    be read (AppTest calls it from the test's thread)."""
    lang = language()

    def call(value: object) -> str:
        token = _BOUND.set(lang)
        try:
            return func(value)
        finally:
            _BOUND.reset(token)

    return call


def t(key: str, /, **values: object) -> str:
    """The text of `key` in the session's language, with its {placeholders} filled from `values`."""
    return text(language(), key, **values)


def class_name(index_or_name: int | str) -> str:
    """A class's name as shown (circles -> "cercles"); the class index or English name stays the value."""
    from shapes_viz.config import CLASS_NAMES

    name = CLASS_NAMES[index_or_name] if isinstance(index_or_name, int) else str(index_or_name)
    return t(f"class.{name}") if f"class.{name}" in catalogue(DEFAULT) else name


def class_names() -> list[str]:
    """Every class's shown name, in the model's order (for figure builders' labels)."""
    from shapes_viz.config import CLASS_NAMES

    return [class_name(i) for i in range(len(CLASS_NAMES))]


def stored(key: str, /, **values: object) -> str:
    """The English text of a "stored.*" key: what session state keeps (an input's label or message), whatever the
    language; `shown` turns it into the session's language when it is drawn."""
    return text(DEFAULT, key, **values)


@cache
def _stored_index() -> dict[str, str]:
    return {value: key for key, value in catalogue(DEFAULT).items() if key.startswith("stored.")}


def shown(value: str) -> str:
    """A stored label or message as shown: the catalogue's text for the app's own ("your drawing"), others (file
    names, a core error's text) as they are."""
    key = _stored_index().get(value)
    return t(key) if key else value


def tab_key(prefix: str, tab: str) -> str:
    """The catalogue key of a tab: ("view", "Why?") -> "view.why"."""
    return f"{prefix}.{re.sub(r'[^a-z0-9]', '', tab.lower())}"


def tab_id(value: object, prefix: str) -> object:
    """The English label (the id the code compares with) of a tab label in any language; other values as they are."""
    if not isinstance(value, str):
        return value
    for lang in LANGUAGES:
        for key, shown in catalogue(lang).items():
            if shown == value and key.startswith(prefix + "."):
                return catalogue(DEFAULT)[key]
    return value


def tab_labels(widget_key: str, prefix: str, tabs: tuple[str, ...] | list[str]) -> list[str]:
    """The labels of a tab bar whose ids are the English `tabs`, in the session's language.

    A tab bar's value is its open tab's label: a value in another language (after a switch of language) or an id
    (set by code: `state.INPUT_TAB = "Examples"`) is moved to this language before the tabs are drawn, so the same
    tab stays open. Call right before `st.tabs(..., key=widget_key)`.
    """
    labels = [t(tab_key(prefix, tab)) for tab in tabs]
    current = st.session_state.get(widget_key)
    if isinstance(current, str) and current not in labels:
        english = tab_id(current, prefix)
        if english in tabs:
            st.session_state[widget_key] = labels[list(tabs).index(english)]
    return labels
