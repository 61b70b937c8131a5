from airflow.providers.standard.operators.bash import BashOperator  # noqa: F401
