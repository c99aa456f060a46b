"""Three kinds of error, three outcomes (after dolma): abort the run, fail one
shard and continue, or retry the shard with backoff."""


class GrassrootsError(Exception):
    """Base class for every error Grassroots raises on purpose."""


class FatalError(GrassrootsError):
    """Abort the whole run (bad config, unreadable input, missing dependency)."""


class ShardError(GrassrootsError):
    """This shard cannot be processed; record it as failed and continue."""


class RetryableError(GrassrootsError):
    """A transient problem; run_shard retries the shard with backoff."""


class InputError(FatalError):
    """Bad user input: says which file, which row, what was wrong, what to do."""

    def __init__(self, path: str, problem: str, hint: str = "", row: int | None = None):
        where = f"{path}" + (f", row {row}" if row is not None else "")
        msg = f"{where}: {problem}"
        if hint:
            msg += f"\n  hint: {hint}"
        super().__init__(msg)
        self.path, self.problem, self.hint, self.row = path, problem, hint, row


# What an interrupted run (Ctrl-C, SIGTERM) says as it exits with code 130.
INTERRUPTED = "interrupted; rerun the same command to resume"
EXIT_INTERRUPTED = 130
