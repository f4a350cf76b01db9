import sys

from gan_engine.cli import main

sys.exit(main())
