"""The one exception a learner is meant to read: `NlpbookError`, for anything wrong with what a person typed, a
file they gave or the runtime they picked. Its message says what is wrong and how to fix it, in Korean and then
English on one line, which the command line prints without a traceback and a notebook cell shows as is."""


class NlpbookError(Exception):
    def __init__(self, ko: str, en: str):
        self.ko, self.en = ko, en
        super().__init__(f"{ko} / {en}")

    def _render_traceback_(self):
        """What a notebook cell shows (IPython asks for this first): the one line, not a traceback."""
        return [f"NlpbookError: {self}"]
