"""Analyses of what NGOs sent: feedback metrics and the recommendations drawn from them."""

from workbench.quality.metrics import Collection, Metrics, MetricsConfig, collection_profile, load_metrics_config, ngo_metrics
from workbench.quality.periods import Period, parse_period

__all__ = ["Collection", "Metrics", "MetricsConfig", "Period", "collection_profile", "load_metrics_config", "ngo_metrics", "parse_period"]
