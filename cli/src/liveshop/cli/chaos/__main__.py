import sys

from liveshop.cli.chaos.runner import main

sys.exit(main())
