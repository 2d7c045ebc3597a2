from sslkit.tools.cli import main

raise SystemExit(main())
