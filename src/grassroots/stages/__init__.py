"""The stages, in pipeline order (see DESIGN.md "Data flow")."""
