"""``python -m depthextractors`` runs the command line."""

from .cli import main

main()
