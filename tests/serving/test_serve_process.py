"""`start_serve`: a `hiertcn serve` child process (its success path: `test_verbs_serving.py`, slow)."""

import pytest

from hiertcn_keras.serving.serve_process import _READY, start_serve


@pytest.mark.slow
def test_a_server_that_exits_raises_with_its_output(tmp_path):
    with pytest.raises(RuntimeError) as error:
        start_serve(["--run", str(tmp_path / "no-such-run")], wait_s=120)
    message = str(error.value)
    assert "exit code 2" in message and "hiertcn serve: error:" in message and "no-such-run" in message


def test_the_ready_line_gives_the_url():
    line = "serving runs/a b/hiertcn on http://127.0.0.1:40123 (Ctrl-C stops)"
    assert _READY.match(line).group(1) == "http://127.0.0.1:40123"
    assert _READY.match("user store: sqlite:/x on http://y") is None
