"""The ``keisei`` commands, one module per area: sign-in, runs, watching, artifacts."""
