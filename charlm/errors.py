"""One exception type for mistakes a user can fix: the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """A problem with the user's input (a flag, a file, a checkpoint), with the fix in the text."""


class TrainingFailed(Exception):
    """Training stopped on a fault it could not get past (the loss kept turning NaN, a checkpoint
    could not be written). The last good checkpoint is intact; the CLI prints one line, exits 3."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped training after a checkpoint was written; the CLI exits 128 + the
    signal number (130 for Ctrl-C, 143 for SIGTERM), as shells do."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
