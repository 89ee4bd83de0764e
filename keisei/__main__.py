from keisei.cli import main

raise SystemExit(main())
