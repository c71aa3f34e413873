from maa_guard.cli import main

raise SystemExit(main())
