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



def test_every_setting_is_one_streamlit_knows_and_the_speed_settings_are_on():
    """A misspelt option is silently ignored by Streamlit: each must name one of its options. Without file
    watching and the full garbage collection after each run, a run costs the server's interpreter about 30 ms
    less (docs/benchmarks.md, the load test)."""
    from streamlit import config as streamlit_config

    settings = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    known = streamlit_config._config_options_template
    names = [f"{section}.{key}" for section, values in settings.items() for key in values]
    assert [name for name in names if name not in known] == []
    assert settings["server"]["fileWatcherType"] == "none"
    assert settings["runner"]["postScriptGC"] is False
