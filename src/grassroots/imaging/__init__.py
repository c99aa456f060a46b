"""Decode / resize / encode images, and hash them."""
