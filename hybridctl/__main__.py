"""Entry point for ``python -m hybridctl``."""

from hybridctl.cli import main

main()
