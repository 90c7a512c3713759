"""One package per paper. A method never imports another method."""
