"""Exports for handing round: the one-page case summary as self-contained HTML and as PDF."""
