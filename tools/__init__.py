"""Developer tools, not part of the shapes_viz package: the benchmark (`python -m tools.bench`), the load
tests (`python -m tools.loadtest.chromium`, `python -m tools.loadtest.websocket`) and the harness they
share with the browser tests (`tools.harness`)."""
