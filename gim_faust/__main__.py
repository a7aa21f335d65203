import sys

from gim_faust.commands.cli import main

sys.exit(main())
