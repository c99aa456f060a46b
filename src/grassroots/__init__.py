"""Grassroots: open image-text datasets and CLIP models from the public web."""

__version__ = "0.1.0"
