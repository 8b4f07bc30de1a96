"""Side panels and dialogs of the main window, one per file."""


def wrappable(text: str) -> str:
    """``text`` with a break chance after each "/", so a label showing a long path wraps
    instead of widening the window."""
    return text.replace("/", "/\u200b")
