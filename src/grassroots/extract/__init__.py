"""Helpers of the extract stage (grassroots.stages.extract): reading WARC/WAT
records into pages (reader, html, wat), image URLs (urls), the LAION-style
rules (rules) and page language (lang)."""
