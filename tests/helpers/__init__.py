"""Helpers shared by the tests: `browser` (verbs on the real app in Chromium), `drawings` (shape images for
uploads), `figures` (Plotly figure specs as numpy), `waiting` (one `eventually()` for every poll)."""
