"""What a learner's mistake must look like, shared by the tests: one `error: 한국어 / English` line, no traceback."""


def one_line(output) -> str:
    """The one `error:` line a failed command printed on stderr, after checking there is exactly one.

    `output` is pytest's capsys, for a command run in this process (then
    nothing else is on stderr), or a finished subprocess (then it exited with
    2, and a progress bar may come before the line).
    """
    if hasattr(output, "readouterr"):
        err, alone = output.readouterr().err, True
    else:
        assert output.returncode == 2, output.stderr[-3000:]
        err, alone = output.stderr, False
    assert "Traceback" not in err, err[-3000:]
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and " / " in errors[0], err[-3000:]
    assert not alone or lines == errors, err[-3000:]
    return errors[0]
