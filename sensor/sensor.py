"""The sensor assembled from its configuration: every stage the pipeline moves a batch
through, and the outputs they feed."""
from __future__ import annotations

from decoders import dispatch as dispatch_mod
from decoders.table import PacketTable
from detectors import REGISTRY, BatchContext
from exporters.alerts import AlertLog
from exporters.prometheus import Metrics, SensorCollector

from .alerting import Alerter
from .config import Config
from .flows import FlowTable
from .lines import LineActivity
from .pipeline import Pipeline
from .plan import AddressPlan
from .stats import TrafficStats


class Sensor:
    """Decode -> traffic counters -> flows -> line activity -> detectors -> alert log.
    Without a configuration only the first two run (decoding and counting)."""

    def __init__(self, cfg: Config | None, alerts_path: str | None = None):
        self.cfg = cfg
        self.stats = TrafficStats(dispatch_mod.DEFAULT.layer_names)
        stages = [self.stats]
        self.plan = self.flows = self.alerter = self.lines = self.log = None
        if cfg is not None:
            self.plan = AddressPlan(cfg)
            self.flows = FlowTable(cfg.max_flows, cfg.idle_seconds)
            self.lines = LineActivity(self.plan.lines)
            detectors = [cls(cfg, self.plan) for name, cls in REGISTRY.items()
                         if cfg.detector_enabled(name)]
            self.alerter = Alerter(detectors, cfg.dedup_seconds, cfg.max_alerts_per_second)
            path = alerts_path if alerts_path is not None else cfg.alerts_path
            self.log = AlertLog(path) if path else None
            stages.append(self)
        # detectors that keep metrics of their own (payload classes, say) publish them too
        extra = [d for d in (self.alerter.detectors if self.alerter else ())
                 if hasattr(d, "metric_families")]
        self.metrics = Metrics(SensorCollector(self.stats, self.alerter, self.flows, self.lines,
                                               extra=extra))
        self.pipeline = Pipeline(stages, options=cfg.decoder_options if cfg else None,
                                 observe=self.metrics.batch_duration.observe)
        self.last_alerts: list[dict] = []

    def process(self, t: PacketTable) -> None:
        """The analysis stage: flows, then every enabled detector, then the alert log."""
        flow_of_row = self.flows.update(t)
        ctx = BatchContext(t, flow_of_row, self.plan, self.cfg, self.flows.row_keys)
        self.lines.process(t, ctx.line_pattern)
        self.alerter.source = t.batch.source
        alerts = self.alerter.process(ctx)
        if self.log is not None:
            self.log.write(alerts)
        self.last_alerts = alerts

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
