"""`python -m kapviz`: see kapviz.cli."""

from kapviz.cli import main

raise SystemExit(main())
