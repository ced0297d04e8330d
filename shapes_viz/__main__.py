"""`python -m shapes_viz ...`: see shapes_viz.cli."""

import sys

from shapes_viz.cli import main

if __name__ == "__main__":
    sys.exit(main())
