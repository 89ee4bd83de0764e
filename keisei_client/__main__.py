import sys

from keisei_client.cli import main

sys.exit(main())
