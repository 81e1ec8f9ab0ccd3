"""The local stack (`demandflow up`, `make run`): the supervisor that starts and restarts the
processes (`supervisor`), the embedded PostgreSQL and the Temporal dev server it brings up,
the lock that keeps one stack per state directory, and the demo data it loads once."""
