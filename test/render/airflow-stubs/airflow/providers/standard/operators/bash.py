from airflow._stub import BaseOperator


class BashOperator(BaseOperator):
    ALLOWED = {"bash_command", "env", "append_env", "output_encoding", "skip_on_exit_code", "cwd",
               "output_processor"}
    REQUIRED = ("bash_command",)
    template_fields = ("bash_command", "env", "cwd")
