"""Entry point for ``python -m reconciler`` and the ``reconciler`` command.

The command line is imported only to run it: a worker process that imports the main
module again (see ``desired.parse_pool``) loads none of it and runs nothing.
"""


def main() -> None:
    from reconciler.cli.main import run
    from reconciler.desired.processes import allow_workers

    allow_workers()  # this main module is safe for spawned workers to import again
    run()


if __name__ == "__main__":
    main()
