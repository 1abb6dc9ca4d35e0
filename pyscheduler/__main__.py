from pyscheduler.cli import main

raise SystemExit(main())
