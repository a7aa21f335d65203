import sys

from gim_faust.cli import main

sys.exit(main())
