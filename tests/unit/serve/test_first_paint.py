"""tb_actviz.serve.first_paint: what the tab's first picture needs (/first,
through a real server: tests/integration/test_server.py)."""


def test_first_step_at_or_before():
    from types import SimpleNamespace

    from tb_actviz.serve import first_paint

    steps = [SimpleNamespace(step=s) for s in (2, 5, 9)]
    assert [first_paint.step_at_or_before(steps, s).step for s in (None, 0, 2, 4, 5, 8, 9, 99)] == [
        9, 2, 2, 2, 5, 5, 9, 9]
