"""`guarded(section)`: how every section of the page fails.

Expected failures (ShapesVizError: bad image, unusable model file, dataset problems, a busy trainer) are
shown as the friendly message they carry, in the session's language (`i18n.error_text`). Anything else is
logged with its traceback on the server and shown as a generic message, so one broken section never takes
down the page and no traceback reaches the browser. Streamlit's own control flow (st.rerun, st.stop) derives
from BaseException and passes.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, TypeVar

import streamlit as st

from shapes_viz.errors import EmptyImageError, ShapesVizError

log = logging.getLogger("shapes_viz.ui")
F = TypeVar("F", bound=Callable[..., Any])


def failed(section: str) -> str:
    """The generic message of an unexpected failure, in the session's language (the section's name too)."""
    from shapes_viz.ui import i18n

    key = "section." + re.sub(r"[^a-z0-9]", "_", section.lower()).strip("_")
    name = i18n.t(key) if key in i18n.catalogue(i18n.DEFAULT) else section
    return i18n.t("safety.failed", section=name)


def show_error(section: str, exc: BaseException) -> None:
    """Show `exc` in place of `section`'s output: an expected failure's message, else a generic one (logged)."""
    from shapes_viz.ui import i18n

    if isinstance(exc, EmptyImageError):
        st.info(i18n.error_text(exc))
    elif isinstance(exc, ShapesVizError):
        st.warning(i18n.error_text(exc))
    else:
        log.exception("unexpected error in the %s section", section, exc_info=exc)
        st.error(failed(section))


@contextlib.contextmanager
def guarded(section: str) -> Iterator[None]:
    """Run a block; turn its exceptions into a message in place of the block's output.

    A failure of one of this section's callbacks (which ran just before) is shown here first: the section
    may be a fragment whose rerun draws nothing else, so the message must appear where the section is.
    """
    show_callback_error(section)
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the point of this function
        show_error(section, exc)


def guarded_callback(section: str) -> Callable[[F], F]:
    """Decorator for widget callbacks: the same policy as `guarded` (callbacks run before the script)."""

    def decorate(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except ShapesVizError as exc:  # shown in the next run, which the callback's run is: its language
                from shapes_viz.ui import i18n

                st.session_state["callback_error"] = {"section": section, "text": i18n.error_text(exc),
                                                      "expected": True}
            except Exception:  # noqa: BLE001
                log.exception("unexpected error in a %s callback", section)
                st.session_state["callback_error"] = {
                    "section": section,
                    "text": failed(section),
                    "expected": False,
                }
            return None

        return wrapper  # type: ignore[return-value]

    return decorate


def show_callback_error(section: str) -> None:
    """Show (once) the message a guarded callback of `section` left behind."""
    error = st.session_state.get("callback_error")
    if error and error.get("section") == section:
        del st.session_state["callback_error"]
        (st.warning if error["expected"] else st.error)(error["text"])
