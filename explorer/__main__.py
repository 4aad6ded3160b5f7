"""`python -m explorer` is the `explorer` command."""
import sys

from .cli import main

sys.exit(main())
