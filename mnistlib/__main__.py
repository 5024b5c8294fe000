import sys

from mnistlib.cli import main

sys.exit(main())
