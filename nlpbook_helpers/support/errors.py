"""The one exception a learner is meant to read, for what they typed, gave or picked: what is wrong and how to fix
it, in Korean then English on one line, printed without a traceback on the command line and in a notebook."""


class NlpbookError(Exception):
    def __init__(self, ko: str, en: str):
        self.ko, self.en = ko, en
        super().__init__(f"{ko} / {en}")

    def _render_traceback_(self):  # what a notebook cell shows (IPython asks first): the one line, no traceback
        return [f"NlpbookError: {self}"]
