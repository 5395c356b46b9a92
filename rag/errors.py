"""Errors shown to the user as one line (bad input, not bugs); the CLI exits non-zero on them."""


class UserError(Exception):
    """Shown to the user as one line."""


class QuestionError(ValueError):
    """A question that cannot be asked as it stands; the message is shown as is."""


MAX_QUESTION_CHARS = 2000


def check_question(question: str) -> str:
    """The question with its whitespace tidied, or QuestionError (checked before anything loads)."""
    q = " ".join((question or "").split())
    if not q:
        raise QuestionError("the question is empty; ask something like: ask \"what happened to the DArDR post?\"")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(q):,} characters long; keep it under {MAX_QUESTION_CHARS:,}")
    return q
