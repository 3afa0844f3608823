"""Published evidence beside the clinic's own numbers (docs/domain.md §4b)."""
