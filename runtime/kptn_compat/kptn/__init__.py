"""A minimal stand-in for kptn, put on the import path by dagwright only when the real kptn is not
installed, so kptn task code imports under dagwright. Only what kptn tasks import is here:
kptn.util.pipeline_config.PipelineConfig and kptn.util.runtime_config.RuntimeConfig (see dagwright's
docs/kptn.md). Install kptn itself to get the rest."""
