"""The `canary` command line: progress reporting, log setup and the verbs that belong to no one package."""
