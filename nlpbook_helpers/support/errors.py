"""The one exception a learner is meant to read.

Everything that goes wrong because of something a person typed, a file they
gave us or the runtime they picked raises `NlpbookError`. Its message says what
is wrong and how to fix it, in Korean first and then in English, on one line,
so the command line can print it without a traceback and a notebook cell shows
it plainly, as that one line.
"""


class NlpbookError(Exception):
    """A problem the user can fix. `ko` and `en` say the same thing."""

    def __init__(self, ko: str, en: str):
        self.ko = ko
        self.en = en
        super().__init__(f"{ko} / {en}")

    def _render_traceback_(self):
        """What a notebook cell shows (IPython asks for this first): the one line, not a traceback."""
        return [f"NlpbookError: {self}"]
