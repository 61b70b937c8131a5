"""kptn.util.runtime_config under dagwright: the RuntimeConfig tasks receive as `runtime_config`."""

from dagwright_kptn import ConfigError as RuntimeConfigError
from dagwright_kptn import RuntimeConfig

__all__ = ["RuntimeConfig", "RuntimeConfigError"]
