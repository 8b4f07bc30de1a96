"""Live plots: each is created once and updated with ``setData`` from the paint timer."""
