from mnistlib.cli import main

raise SystemExit(main())
