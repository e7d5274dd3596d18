import sys

from tailmine.cli import main

sys.exit(main())
