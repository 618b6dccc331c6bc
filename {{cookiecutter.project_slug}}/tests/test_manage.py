"""The command line: python manage.py ..."""

from manage import cli


def test_send_test_email_prints_the_task_id(runner):
    """It queues the message and prints the id to follow it by."""
    result = runner.invoke(cli, ["send-test-email", "ada@example.com"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip()) == 36


def test_send_test_email_refuses_a_bad_address(runner):
    """A bad address is a usage error; nothing is queued."""
    result = runner.invoke(cli, ["send-test-email", "not-an-address"])
    assert result.exit_code == 2
    assert "ADDRESS" in result.output


def test_worker_and_dev_are_listed(runner):
    """The project's own commands sit beside Flask's."""
    result = runner.invoke(cli, ["--help"])
    for command in ("dev", "worker", "send-test-email", "run", "shell", "routes"):
        assert command in result.output
