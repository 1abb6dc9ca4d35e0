from pyscheduler.cmd.cli import main

raise SystemExit(main())
