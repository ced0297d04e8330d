"""The deployed server settings (.streamlit/config.toml) that the browser tests check on a real server."""

from __future__ import annotations

import tomllib

from tools.harness import PROJECT_ROOT
from shapes_viz.config import MAX_IMAGE_BYTES


def test_the_deployed_streamlit_config_has_every_protection():
    """The settings the browser tests check on a real server."""
    settings = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    server, client = settings["server"], settings["client"]
    assert server["enableXsrfProtection"] is True
    assert server["enableCORS"] is True  # Streamlit's name: true = cross-origin requests are refused
    assert client["showErrorDetails"] == "none"
    assert 1 <= server["maxUploadSize"] <= MAX_IMAGE_BYTES // 2**20  # MB; the decoder's own limit is above it
    assert client["toolbarMode"] == "viewer" and server["runOnSave"] is False
    assert settings["browser"]["gatherUsageStats"] is False

