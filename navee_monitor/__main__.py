import sys

from navee_monitor.cli.main import main

sys.exit(main())
