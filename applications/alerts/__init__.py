"""The ``threshold-alerts`` application: YAML rules to raise/clear alerts."""

from applications.alerts.app import AlertSettings, ThresholdAlerts

__all__ = ["AlertSettings", "ThresholdAlerts"]
