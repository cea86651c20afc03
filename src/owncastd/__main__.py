"""`python -m owncastd` runs the CLI."""

from owncastd.cli import main

main()
