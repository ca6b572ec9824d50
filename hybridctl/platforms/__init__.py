"""Platforms: how to do X on each OS, as commands a transport runs (``linux``, ``windows``)."""
