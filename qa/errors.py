"""The errors `qa` raises on purpose: each message says what went wrong and what to do."""


class QAError(Exception):
    """Base of every error `qa` reports to a user."""


class QuestionError(QAError, ValueError):
    """The question cannot be asked: empty, or too long."""


class CorpusError(QAError):
    """The corpus folder is missing or holds no readable document."""


class IndexError_(QAError):
    """The persisted index is unreadable or was built with other settings."""


class ModelError(QAError):
    """A model cannot be found or is not of the kind needed."""


class SettingsError(QAError, ValueError):
    """A setting, from the environment, a flag or a keyword, is not valid."""
