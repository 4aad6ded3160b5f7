"""Panels: thin ipywidgets views over a Session (they read and draw; the core computes)."""
