"""Why did the network say that? Attribution maps, their faithfulness, and the arithmetic of one cell.

All in numpy on the numpy engine (no TensorFlow in the app): `methods` (LayerCAM, Grad-CAM, saliency,
SmoothGrad, integrated gradients, occlusion), `faithfulness` (deletion and insertion against random and
ink maps, the randomised-network sanity check), `cells` (receptive fields and a cell's arithmetic).
"""

from shapes_viz.explain.methods import CAM_METHODS, METHODS, SIGNED_METHODS, AttributionMap, attribute, map_layers

__all__ = ["CAM_METHODS", "METHODS", "SIGNED_METHODS", "AttributionMap", "attribute", "map_layers"]
