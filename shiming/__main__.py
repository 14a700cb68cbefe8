import sys

from shiming.cli import main

sys.exit(main())
