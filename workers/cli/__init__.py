"""The operations command line, `demandflow` (entry point `workers.cli.main:main`): the
process commands, migrations, backups and audits in `main`, the table of actions' commands
and the listings in `ops`, `actions`, `lists`, `plans` and `wishes`."""
