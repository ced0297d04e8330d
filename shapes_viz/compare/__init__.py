"""Comparing inputs, placing them among the data set, exporting and sharing what the app shows (numpy only).

    similarity   cosine similarity of two inputs' activations, layer by layer (the depth hierarchy)
    morph        a pixel blend from input A to input B in one batched forward pass, and where the class flips
    pca          a 2-D PCA of one layer's outputs over the data set (fitted once) and the projection of new inputs
    export       byte-reproducible PNGs of a channel heatmap and a layer grid (viridis as Plotly draws it), and
                 everything about one input as an .npz archive
    link         the share link's parameters: encode, and decode with strict validation (never raises)

No streamlit, no plotly: the UI (`shapes_viz.ui.compare_view`, `where_view`, `share`) and the figure builders
(`shapes_viz.figures.compare`) call these.
"""
