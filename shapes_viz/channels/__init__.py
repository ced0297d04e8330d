"""What does each channel look for? Its top drawings in the data set (`scan`), what the network loses without
it (`knockout`), and the image it wants most (`visualize`). All in numpy on the numpy engine."""
