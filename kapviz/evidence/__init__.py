"""Published evidence beside the clinic's own numbers (DOMAIN.md §4b)."""
