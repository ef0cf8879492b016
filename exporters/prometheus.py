"""The sensor's metrics in Prometheus form (DESIGN.md, "Metrics"): base units, `_total`
counters, bounded labels. Counts live in the pipeline's own stages; a collector reads them
at scrape (or file-write) time, so nothing is counted twice."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path

from prometheus_client import (CollectorRegistry, Histogram, ProcessCollector, generate_latest,
                               write_to_textfile)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class SensorCollector:
    def __init__(self, stats, alerter=None, flows=None, lines=None, drops=None, extra=()):
        self.stats, self.alerter, self.flows, self.lines = stats, alerter, flows, lines
        self.drops = drops  # callable -> {interface: kernel drops}, live capture only
        # stages with metrics of their own: objects with a metric_families() generator
        self.extra = list(extra)

    def collect(self):
        s = self.stats
        packets = CounterMetricFamily("ybsensor_packets", "Frames seen, by encapsulation chain",
                                      labels=["encap"])
        octets = CounterMetricFamily("ybsensor_bytes", "Bytes on the wire, by encapsulation chain",
                                     labels=["encap"])
        for encap, count in sorted(s.packets.items()):
            packets.add_metric([encap], count)
            octets.add_metric([encap], s.bytes[encap])
        yield packets
        yield octets
        errors = CounterMetricFamily("ybsensor_decode_errors", "Frames whose decoding stopped on "
                                     "an error, by reason", labels=["reason"])
        for reason, count in sorted(s.errors.items()):
            errors.add_metric([reason], count)
        yield errors
        faults = CounterMetricFamily("ybsensor_decoder_faults", "Malformed frames by the decoder "
                                     "and the fault it named", labels=["decoder", "fault"])
        for (decoder, fault), count in sorted(s.faults.items()):
            faults.add_metric([decoder, fault], count)
        yield faults
        if self.alerter is not None:
            alerts = CounterMetricFamily("ybsensor_alerts", "Rule violations seen (every violating "
                                         "packet, before deduplication)", labels=["detector", "severity"])
            for (detector, severity), count in sorted(self.alerter.occurrences.items()):
                alerts.add_metric([detector, severity], count)
            yield alerts
            # who: configured institutions only (or "-"), so the label set stays bounded
            records = CounterMetricFamily("ybsensor_alert_records", "Alerts raised (after "
                                          "deduplication and the rate limit), by detector and "
                                          "institution code", labels=["detector", "institution"])
            for (detector, institution), count in sorted(self.alerter.alerts.items()):
                records.add_metric([detector, institution], count)
            yield records
        if self.flows is not None:
            yield GaugeMetricFamily("ybsensor_flows_active", "Flows in the flow table",
                                    value=self.flows.active)
            yield CounterMetricFamily("ybsensor_flows_evicted", "Flows evicted from the flow table "
                                      "(idle, or least recently seen when full)",
                                      value=self.flows.evicted_total)
        if self.lines is not None:
            # every configured line from the first scrape, so that a line silent since start
            # is seen (CQ §1(3)) and rules can join on whose it is
            info = GaugeMetricFamily("ybsensor_line_info", "Each configured access line, its "
                                     "institution and access kind (value 1)",
                                     labels=["line", "institution", "access"])
            for line, code, access in self.lines.configured():
                info.add_metric([line, code, access], 1)
            yield info
            seen = GaugeMetricFamily("ybsensor_line_last_seen_timestamp_seconds",
                                     "When each configured access line last carried a frame",
                                     labels=["line"])
            for line, ts in sorted(self.lines.last_seen().items()):
                seen.add_metric([line], ts)
            yield seen
            # configured lines only, so the label set stays bounded
            packets = CounterMetricFamily("ybsensor_line_packets", "Frames carried by each "
                                          "configured access line", labels=["line"])
            octets = CounterMetricFamily("ybsensor_line_bytes", "Bytes on the wire carried by "
                                         "each configured access line", labels=["line"])
            for line, count, size in sorted(self.lines.traffic()):
                packets.add_metric([line], count)
                octets.add_metric([line], size)
            yield packets
            yield octets
        if self.drops is not None:
            drops = CounterMetricFamily("ybsensor_capture_drops", "Frames the kernel dropped "
                                        "before capture", labels=["interface"])
            for iface, count in sorted(self.drops().items()):
                drops.add_metric([iface], count)
            yield drops
        for stage in self.extra:
            yield from stage.metric_families()


class BuildCollector:
    """`ybsensor_build_info{version,decode_kernel,matcher} 1`: which code a sensor runs;
    the decode kernel is read at each scrape (a replay takes the compiled one once it has
    decoded enough frames)."""

    def collect(self):
        from ybsensor.decoders import fastpath
        from ybsensor.detectors.matcher import hyperscan_available

        try:
            version = importlib.metadata.version("ybsensor")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        info = GaugeMetricFamily("ybsensor_build_info", "The sensor's version, decode kernel "
                                 "and payload matcher (value 1)",
                                 labels=["version", "decode_kernel", "matcher"])
        info.add_metric([version, fastpath.backend(),
                         "hyperscan" if hyperscan_available() else "numpy"], 1)
        yield info


class Metrics:
    """A registry with the sensor's collector, the build and process metrics, and the
    batch-duration histogram."""

    def __init__(self, collector: SensorCollector):
        self.registry = CollectorRegistry()
        self.registry.register(collector)
        self.registry.register(BuildCollector())
        ProcessCollector(registry=self.registry)    # process_cpu_seconds_total, memory, fds
        self.batch_duration = Histogram("ybsensor_batch_duration_seconds",
                                        "Time to take one batch through the pipeline",
                                        buckets=BATCH_BUCKETS, registry=self.registry)

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def write(self, path: str | Path) -> None:
        write_to_textfile(str(path), self.registry)
