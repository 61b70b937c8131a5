from airflow._stub import BaseOperator
from kubernetes.client import models as k8s


class KubernetesPodOperator(BaseOperator):
    ALLOWED = {
        "kubernetes_conn_id", "namespace", "image", "name", "random_name_suffix", "cmds",
        "arguments", "ports", "volume_mounts", "volumes", "env_vars", "env_from", "secrets",
        "in_cluster", "cluster_context", "labels", "reattach_on_restart",
        "startup_timeout_seconds", "startup_check_interval_seconds", "schedule_timeout_seconds",
        "get_logs", "base_container_name", "base_container_status_polling_interval",
        "init_container_logs", "container_logs", "image_pull_policy", "annotations",
        "container_resources", "affinity", "config_file", "node_selector", "image_pull_secrets",
        "service_account_name", "automount_service_account_token", "hostnetwork", "host_aliases",
        "tolerations", "security_context", "container_security_context", "dnspolicy",
        "dns_config", "hostname", "subdomain", "schedulername", "full_pod_spec",
        "init_containers", "log_events_on_failure", "pod_template_file", "pod_template_dict",
        "priority_class_name", "pod_runtime_info_envs", "termination_grace_period", "configmaps",
        "skip_on_exit_code", "deferrable", "poll_interval", "log_pod_spec_on_failure",
        "on_finish_action", "termination_message_policy", "active_deadline_seconds",
        "callbacks", "progress_callback", "logging_interval", "trigger_kwargs",
    }
    template_fields = ("image", "cmds", "arguments", "env_vars", "namespace", "labels",
                       "node_selector", "service_account_name")

    def __init__(self, **kwargs):
        if "image" not in kwargs and "pod_template_file" not in kwargs:
            raise TypeError("KubernetesPodOperator needs image or pod_template_file")
        _check_pod(kwargs)
        super().__init__(**kwargs)

    @classmethod
    def partial(cls, **kwargs):
        _check_pod(kwargs)
        return super().partial(**kwargs)


def _check_pod(kwargs):
    res = kwargs.get("container_resources")
    if res is not None and not isinstance(res, k8s.V1ResourceRequirements):
        raise TypeError("container_resources must be a V1ResourceRequirements")
    for t in kwargs.get("tolerations") or []:
        if not isinstance(t, k8s.V1Toleration):
            raise TypeError("tolerations must be V1Toleration objects")
