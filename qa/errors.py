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


class LimitError(QAError, ValueError):
    """A file is over a limit on reading it (its unpacked size, its text, the time or memory it takes)."""

    @classmethod
    def text(cls, max_chars: int) -> "LimitError":
        """The error for a file whose text passes `max_chars`; said after "it", as a skipped file's reason."""
        return cls(f"holds over {max_chars:,} characters of text, the limit (QA_MAX_TEXT_CHARS)")


class ScopeError(QAError, ValueError):
    """A scope cannot be used: a pattern that matches no indexed document, or one that leaves the corpus."""
