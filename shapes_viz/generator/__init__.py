"""Synthetic hand-drawn-looking circles, squares and triangles (pure numpy + Pillow).

This is the only training data of the shipped model, which is judged on real human drawings, so every
image is as irregular as people are while staying unambiguous for a human. One module per concern:

* `outlines`: a path per class in "unit" coordinates (shape about 2 units across, y pointing down), with
  closure effects (overshoot, gap, spiral, crossing ticks, hooks, one stroke or several);
* `strokes`: what a hand does to a path (wobble, tremor, a warp of the whole drawing, mouse sampling);
* `render`: placing the strokes on a canvas and drawing them with varying width and pressure;
* `looks`: the two looks, "pen" (scanned paper) and "browser" (a mouse on a 280x280 canvas), and the
  public drawing functions;
* `files`: writing a folder data set.

Public API: `draw_shape`, `draw_browser_style`, `generate_dataset`.
"""

from shapes_viz.generator.files import generate_dataset
from shapes_viz.generator.looks import draw_browser_style, draw_shape

__all__ = ["draw_browser_style", "draw_shape", "generate_dataset"]
