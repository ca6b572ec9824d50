"""Command implementations behind the CLI: compute a result, then hand it to the UI."""
