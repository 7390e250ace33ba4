"""Error type for unusable dataset folders and event files."""


class DatasetError(ValueError):
    """A dataset folder or event file cannot be used; the message names it."""
