"""Helpers shared by the tests: `browser` (verbs on the real app in Chromium), `drawings` (shape images for
uploads), `figures` (Plotly figure specs as numpy), `gradient_oracle` (tf.GradientTape: the oracle of every
gradient), `reliability` (faults and bad inputs), `waiting` (one `eventually()` for every poll)."""
