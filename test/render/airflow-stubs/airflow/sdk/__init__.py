from airflow._stub import DAG  # noqa: F401  (Airflow 3's task SDK)
