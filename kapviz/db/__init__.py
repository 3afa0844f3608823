"""Database layer: models, engine factory, migrations and query functions."""
