"""Reliability rows that need the real server and a real browser (Debian Chromium through Playwright).

Row 13: an upload far over `server.maxUploadSize` is refused by the browser before sending it, and by the
server when a client sends it anyway (Content-Length, and a chunked body without one); the session goes on.
Row 15: an exception inside a widget callback shows a generic message; the details are only in the server log.
The deployed settings (.streamlit/config.toml) checked on the wire: XSRF tokens on uploads, no cross-origin
WebSocket.

The faults of row 15 are injected into the real server process by a `sitecustomize` module on its
PYTHONPATH (the server runs the real app; two functions of shapes_viz.ui.state raise for one magic value).
"""

from __future__ import annotations

import http.client
import os
import textwrap
from urllib.parse import urlparse

import pytest

from tests.helpers.browser import browser_test_marks, screenshot, upload, wait_for_prediction
from tests.helpers.drawings import shape_png
from tests.helpers.waiting import eventually
from tools.harness import LIVE, PROJECT_ROOT

pytestmark = browser_test_marks()

SECRET = "SECRET-DETAIL-4f1c9"  # the text of the injected exceptions: must never reach the browser
MAGIC_CHANNEL = 13  # selecting this channel makes the channel callback fail
OVER_LIMIT_MB = 12  # server.maxUploadSize is 5 MB

FAULTS = textwrap.dedent(
    f"""
    # Injected by tests/test_reliability_browser.py into the test server only.
    import shapes_viz.ui.state as _state

    _real_set_channel = _state.set_channel

    def set_channel(channel):
        if int(channel) == {MAGIC_CHANNEL}:
            raise RuntimeError("{SECRET} in a guarded callback")
        return _real_set_channel(channel)

    def clear_canvas():
        raise RuntimeError("{SECRET} in the Clear button's callback")

    _state.set_channel = set_channel
    _state.clear_canvas = clear_canvas
    """
)


@pytest.fixture(scope="module")
def server_env(tmp_path_factory) -> dict[str, str]:
    """The faults, on the PYTHONPATH of the module's app server (tests/conftest.py's `app_server`)."""
    faults = tmp_path_factory.mktemp("faults")
    (faults / "sitecustomize.py").write_text(FAULTS)
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(faults), str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}


@pytest.fixture
def page(open_page):
    return open_page()


def wait_for_text(read, needle: str, what: str, timeout: float = 30) -> str:
    """The text `read()` returns once it contains `needle`."""
    def contains() -> str | None:
        text = read()
        return text if needle in text else None

    return eventually(contains, timeout, what=f"{what} to show {needle!r}")


def assert_page_shows_no_details(page) -> None:
    body = page.locator("body").inner_text()
    assert SECRET not in body and "Traceback" not in body and "RuntimeError" not in body, body[-2000:]


def upload_url_and_token(page) -> tuple[str, str]:
    """Upload a small PNG like a user; return the session's real upload URL and its XSRF cookie."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url) if "/_stcore/upload_file/" in request.url else None)
    upload(page, "circle.png", shape_png("circles"))
    wait_for_prediction(page, "circle.png")
    assert urls, "the browser sent no upload request"
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf")
    return urls[-1], token


def multipart(name: str, data: bytes, boundary: str = "----shapesvizboundary") -> tuple[bytes, str]:
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------- row 13


def test_an_upload_over_the_limit_is_refused_in_the_browser_and_the_session_goes_on(page):
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if "/_stcore/upload_file/" in request.url else None)
    upload(page, "huge.png", b"\x89PNG\r\n\x1a\n" + os.urandom(OVER_LIMIT_MB * 2**20))
    text = wait_for_text(lambda: page.locator(".st-key-upload_file").inner_text(), "File must be 5.0MB or smaller",
                         "the uploader's size message")
    assert "huge.png" in text
    assert sent == [], "the browser sent the oversized file"
    assert_page_shows_no_details(page)
    upload(page, "circle.png", shape_png("circles"))  # the same session goes on
    assert "circles" in wait_for_prediction(page, "circle.png")
    screenshot(page, "reliability_upload_over_limit")


def test_the_server_refuses_an_oversized_upload_sent_past_the_browser(page, app_server):
    url, token = upload_url_and_token(page)
    parsed = urlparse(url)
    cookie = f"_streamlit_xsrf={token}"
    body, content_type = multipart("huge.png", b"\x89PNG\r\n\x1a\n" + os.urandom(OVER_LIMIT_MB * 2**20))

    # 1. with Content-Length: refused before the body is read
    response = page.context.request.put(url, data=body, headers={"Content-Type": content_type, "X-Xsrftoken": token})
    assert response.status == 413, (response.status, response.text())

    # 2. chunked, no Content-Length: refused while streaming (the connection may be cut before we finish)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    status = None
    try:
        connection.putrequest("PUT", parsed.path)
        for name, value in (("Content-Type", content_type), ("X-Xsrftoken", token), ("Cookie", cookie),
                            ("Transfer-Encoding", "chunked")):
            connection.putheader(name, value)
        connection.endheaders()
        for start in range(0, len(body), 256 * 1024):
            chunk = body[start : start + 256 * 1024]
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        connection.send(b"0\r\n\r\n")
        status = connection.getresponse().status
    except (ConnectionError, http.client.HTTPException):
        pass  # the server closed the connection once the cap was passed
    finally:
        connection.close()
    assert status in (413, None), status
    log = app_server.log
    wait_for_text(log.read_text, "Upload rejected: request body exceeded the size limit while streaming",
                  "the server's log line for the streamed upload")

    # 3. without the XSRF token: refused whatever the size (XSRF protection is on)
    small, content_type = multipart("circle.png", shape_png("circles"))
    response = page.context.request.put(url, data=small, headers={"Content-Type": content_type})
    assert response.status == 403, response.status

    # the server and this session go on
    assert page.context.request.get(f"{parsed.scheme}://{parsed.netloc}/_stcore/health").status == 200
    upload(page, "triangle.png", shape_png("triangles"))
    wait_for_prediction(page, "triangle.png")
    assert_page_shows_no_details(page)


# --------------------------------------------------------------------------- row 15


def test_an_exception_in_a_guarded_callback_is_a_generic_message_details_in_the_log(page, app_server):
    upload(page, "circle.png", shape_png("circles"))
    wait_for_prediction(page, "circle.png")
    field = page.locator(".st-key-explorer_channel_number input")
    field.fill(str(MAGIC_CHANNEL))
    field.press("Enter")
    explorer = page.locator("body")
    wait_for_text(explorer.inner_text, "Something went wrong in the explorer section. The details are in the server log.",
                  "the generic message")
    assert_page_shows_no_details(page)
    log = wait_for_text(app_server.log.read_text, f"{SECRET} in a guarded callback", "the details in the server log")
    assert "Traceback (most recent call last)" in log
    screenshot(page, "reliability_callback_error")
    field.fill("2")  # the explorer goes on
    field.press("Enter")
    page.locator(f".st-key-channel_heatmap{LIVE} .js-plotly-plot").wait_for()


def test_an_exception_in_any_other_callback_shows_no_details_in_the_browser(page, app_server):
    """The Clear button's callback fails: whichever layer catches it (the app's guard or Streamlit itself with
    client.showErrorDetails = "none"), the browser gets a generic message and the log gets the traceback."""
    page.locator(".st-key-clear_canvas button").click()
    eventually(lambda: "Something went wrong" in page.locator("body").inner_text()
               or page.locator("[data-testid=stException]").count(), what="an error message after the failing callback")
    assert_page_shows_no_details(page)
    exceptions = page.locator("[data-testid=stException]")
    for i in range(exceptions.count()):
        text = exceptions.nth(i).inner_text()
        assert SECRET not in text and "Traceback" not in text, text
    log = wait_for_text(app_server.log.read_text, f"{SECRET} in the Clear button's callback", "the details in the log")
    assert "Traceback (most recent call last)" in log
    screenshot(page, "reliability_unguarded_callback_error")
    upload(page, "circle.png", shape_png("circles"))  # the session goes on
    wait_for_prediction(page, "circle.png")


# --------------------------------------------------------------------------- the deployed settings on the wire


def test_a_websocket_from_another_origin_is_refused(app_server):
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    url = app_server.url.replace("http://", "ws://") + "/_stcore/stream"
    with connect(url, origin=app_server.url, subprotocols=["streamlit"], open_timeout=30) as same_origin:
        assert same_origin.subprotocol == "streamlit"
    with pytest.raises((InvalidStatus, InvalidHandshake)) as refused:
        with connect(url, origin="http://evil.example", subprotocols=["streamlit"], open_timeout=30):
            pass
    if isinstance(refused.value, InvalidStatus):
        assert refused.value.response.status_code == 403
