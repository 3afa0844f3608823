"""kapviz: analytics dashboard for ketamine-assisted psychotherapy (KAP) programs."""

__version__ = "0.1.0"
