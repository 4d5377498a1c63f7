"""Read-only views of a hierarchy: plan, graph and listing, as text and JSON."""
