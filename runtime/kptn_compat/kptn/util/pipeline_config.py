"""kptn.util.pipeline_config under dagwright: the PipelineConfig tasks receive as `pipeline_config`."""

from dagwright_kptn import PipelineConfig

__all__ = ["PipelineConfig"]
