#!/usr/bin/env python3
"""The Grafana dashboard as code, with Grafana's own SDK (grafana-foundation-sdk):

    python deploy/grafana/dashboard.py > deploy/grafana/ybsensor.json

The data source is a dashboard variable (`$datasource`), so the file provisions from disk
as it imports by hand. `instance`, `institution`, `line` and `detector` narrow every panel
that carries the label; panels that could draw a series per line or institution show the
top ones only (a fleet has thousands); quantiles are per sensor, so the slowest one shows;
each panel plots one kind of quantity (a rate, or a level) on its axis.
tests/exporters/test_deploy.py checks that the committed JSON is what this script writes, and that
every query reads metrics the sensor exports.
"""
from __future__ import annotations

import json
import sys

from grafana_foundation_sdk.builders import (bargauge, common, dashboard, prometheus, stat,
                                             statetimeline, table, timeseries)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from grafana_foundation_sdk.models.dashboard import (DashboardCursorSync, DataSourceRef,
                                                     Threshold, ThresholdsMode, ValueMap,
                                                     ValueMappingResult, VariableOption,
                                                     VariableRefresh, VariableSort)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SENSOR = 'job="ybsensor", instance=~"$instance"'
LINE = f'{SENSOR}, line=~"$line"'
ALERT = f'{SENSOR}, detector=~"$detector"'
RECORD = f'{ALERT}, institution=~"$institution"'
TOP = 20          # series a wide panel draws
# configured lines of the chosen institutions, to join a line's series on (value 1)
LINES_CHOSEN = (f'max by (line) (ybsensor_line_info{{{LINE}, '
                f'institution=~"$institution"}})')


LEGEND = (common.VizLegendOptions().display_mode(common_models.LegendDisplayMode.LIST)
          .placement(common_models.LegendPlacement.BOTTOM).show_legend(True))


def query(expr: str, legend: str = "", instant: bool = False) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).legend_format(legend or "__auto")
    return q.instant() if instant else q


def per_second(metric: str, by: str = "instance", selector: str = SENSOR) -> str:
    """A counter's rate over the panel's interval, summed by `by` ("": over all series)."""
    return f'sum{f" by ({by}) " if by else ""}(rate({metric}{{{selector}}}[$__rate_interval]))'


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
        [Threshold(value=v, color=c) for v, c in steps])


def variable(name: str, label: str, metric: str, selector: str) -> dashboard.QueryVariable:
    definition = f"label_values({metric}{{{selector}}}, {name})"
    return (dashboard.QueryVariable(name).label(label).datasource(DATASOURCE)
            .query(definition).refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True).all_value(".*")
            .current(VariableOption(selected=True, text=["All"], value=["$__all"])))


def big_number(title: str, description: str, expr: str, legend: str, unit: str = "",
               steps=None) -> stat.Panel:
    p = (stat.Panel().title(title).description(description).datasource(DATASOURCE)
         .with_target(query(expr, legend)).height(4).span(4)
         .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
         .graph_mode(common_models.BigValueGraphMode.AREA))
    if unit:
        p = p.unit(unit)
    if steps:
        p = p.thresholds(thresholds(*steps))
    return p


def graph(title: str, description: str, unit: str, *targets: prometheus.Dataquery,
          span: int = 12, height: int = 8) -> timeseries.Panel:
    p = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
         .unit(unit).min(0).height(height).span(span).legend(LEGEND)
         .tooltip(common.VizTooltipOptions().mode(common_models.TooltipDisplayMode.MULTI)
                  .sort(common_models.SortOrder.DESCENDING)))
    for t in targets:
        p = p.with_target(t)
    return p


def build() -> dashboard.Dashboard:
    silent = (f'(count((time() - max by (line) (ybsensor_line_last_seen_timestamp_seconds{{{LINE}}})'
              f' * on (line) {LINES_CHOSEN}) > 900) or vector(0))'
              f' + (count({LINES_CHOSEN} unless on (line) '
              f'max by (line) (ybsensor_line_last_seen_timestamp_seconds{{{LINE}}})) or vector(0))')
    d = (dashboard.Dashboard("ybsensor — medical-insurance private network")
         .uid("ybsensor-overview")
         .description("What the edge sensors see: traffic by encapsulation and line, alerts by "
                      "detector and institution, kernel drops, silent lines (JL art.39; CQ "
                      "annex 2, 9).")
         .tags(["ybsensor", "security", "医保专网"])
         .timezone("browser").tooltip(DashboardCursorSync.CROSSHAIR).refresh("30s")
         .time("now-6h", "now").editable()
         .with_variable(dashboard.DatasourceVariable("datasource").label("Data source")
                        .type("prometheus"))
         .with_variable(variable("instance", "Sensor", "ybsensor_packets_total", 'job="ybsensor"'))
         .with_variable(variable("institution", "Institution", "ybsensor_line_info", SENSOR))
         .with_variable(variable("line", "Line", "ybsensor_line_info",
                                 f'{SENSOR}, institution=~"$institution"'))
         .with_variable(variable("detector", "Detector", "ybsensor_alerts_total", SENSOR)))

    d = d.with_row(dashboard.Row("Overview"))
    d = d.with_panel(big_number(
        "Sensors up", "Sensors Prometheus can scrape (job ybsensor).",
        f'sum(up{{{SENSOR}}})', "up", steps=((None, "red"), (1, "green"))))
    d = d.with_panel(big_number(
        "Capture interfaces up", "Capture interfaces with a link, of all the sensors' capture "
        "interfaces.", f'sum(ybsensor_interface_up{{{SENSOR}}})', "up")
        .with_target(query(f'count(ybsensor_interface_up{{{SENSOR}}})', "all")))
    d = d.with_panel(big_number(
        "Frames/s", "Frames decoded per second, every encapsulation.",
        per_second("ybsensor_packets_total", ""), "frames/s", "pps"))
    d = d.with_panel(big_number(
        "Alerts ($__range)", "Alerts raised in the time range (after deduplication).",
        f'sum(increase(ybsensor_alert_records_total{{{RECORD}}}[$__range]))', "alerts",
        steps=((None, "green"), (1, "red"))))
    d = d.with_panel(big_number(
        "Kernel drops ($__range)", "Frames the kernel dropped before capture in the time range: "
        "the sensor did not see them.",
        f'sum(increase(ybsensor_capture_drops_total{{{SENSOR}}}[$__range]))', "drops",
        steps=((None, "green"), (1, "orange"))))
    d = d.with_panel(big_number(
        "Silent lines", "Configured access lines of the chosen institutions with no frame for "
        "more than 15 minutes, or none since the sensors started (CQ §1(3): the backup line "
        "must stay usable).", silent, "silent", steps=((None, "green"), (1, "orange"))))

    d = d.with_row(dashboard.Row("Alerts"))
    d = d.with_panel(graph(
        "Violations/s by detector", "Violating packets per second, by detector (every packet, "
        "before deduplication).", "pps",
        query(per_second("ybsensor_alerts_total", "detector", ALERT),
              "{{detector}}")))
    d = d.with_panel(
        bargauge.Panel().title(f"Top {TOP} institutions and detectors by alerts ($__range)")
        .description("Alerts raised in the time range, by institution code and detector; '-' "
                     "is an address outside every configured institution.")
        .datasource(DATASOURCE).height(8).span(12)
        .with_target(query(f'topk({TOP}, sum by (institution, detector) (increase('
                           f'ybsensor_alert_records_total{{{RECORD}}}[$__range])) > 0)',
                           "{{institution}} {{detector}}", instant=True))
        .display_mode(common_models.BarGaugeDisplayMode.GRADIENT)
        .orientation(common_models.VizOrientation.HORIZONTAL).show_unfilled(True)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
    d = d.with_panel(
        table.Panel().title("Alerts by institution ($__range)").show_header(True)
        .description("Per institution code, alerts raised in the time range by each detector.")
        .datasource(DATASOURCE).height(7).span(24)
        .with_target(query(f'topk(100, sum by (institution, detector) (increase('
                           f'ybsensor_alert_records_total{{{RECORD}}}[$__range])) > 0)',
                           instant=True).format(PromQueryFormat.TABLE)))

    d = d.with_row(dashboard.Row("Traffic"))
    d = d.with_panel(graph(
        "Frames/s by encapsulation", "Frames per second by encapsulation chain (dedicated "
        "lines: eth, vlan, qinq, mpls; VPDN: l2tp, gre...); chains past the label's bound count "
        "as 'other'.", "pps",
        query(f'topk({TOP}, {per_second("ybsensor_packets_total", "encap")})', "{{encap}}")))
    d = d.with_panel(graph(
        "Bits/s by encapsulation", "Bits per second on the wire by encapsulation chain.", "bps",
        query(f'topk({TOP}, 8 * {per_second("ybsensor_bytes_total", "encap")})', "{{encap}}")))
    d = d.with_panel(
        statetimeline.Panel().title(f"Line activity (top {TOP} by traffic)")
        .description("Whether each configured access line carried frames in each interval "
                     "(its last-seen time moved).")
        .datasource(DATASOURCE).height(9).span(12).legend(LEGEND)
        .mappings([ValueMap(options={"0": ValueMappingResult(text="silent", color="orange"),
                                     "1": ValueMappingResult(text="traffic", color="green")})])
        .with_target(query(
            f'clamp_max(topk({TOP}, sum by (line) (changes(ybsensor_line_last_seen_timestamp_'
            f'seconds{{{LINE}}}[$__rate_interval])) * on (line) {LINES_CHOSEN}), 1)',
            "{{line}}")))
    d = d.with_panel(
        table.Panel().title("Seconds since each line's last frame").show_header(True)
        .description("Configured access lines of the chosen institutions, the longest silent "
                     "first; over 900 s the YbsensorLineSilent rule fires.")
        .datasource(DATASOURCE).height(9).span(12).unit("s")
        .thresholds(thresholds((None, "green"), (900, "orange")))
        .with_target(query(
            f'topk(100, (time() - max by (line) (ybsensor_line_last_seen_timestamp_seconds'
            f'{{{LINE}}})) * on (line) group_left (institution) max by (line, institution) '
            f'(ybsensor_line_info{{{LINE}, institution=~"$institution"}}))',
            instant=True).format(PromQueryFormat.TABLE)))
    d = d.with_panel(graph(
        f"Frames/s by line (top {TOP})", "Frames per second carried by each configured access "
        "line (a backup line shows its heartbeat).", "pps",
        query(f'topk({TOP}, {per_second("ybsensor_line_packets_total", "line", LINE)}'
              f' * on (line) {LINES_CHOSEN})', "{{line}}"), span=24))

    d = d.with_row(dashboard.Row("Capture and sensor health"))
    d = d.with_panel(graph(
        "Kernel drops/s by interface", "Frames the kernel dropped because the capture ring was "
        "full.", "pps",
        query(per_second("ybsensor_capture_drops_total", "instance, interface"),
              "{{instance}} {{interface}}"), span=8))
    d = d.with_panel(graph(
        "Captured frames/s by interface", "Frames the kernel passed to the capture rings "
        "(after the capture filter).", "pps",
        query(per_second("ybsensor_capture_packets_total", "instance, interface"),
              "{{instance}} {{interface}}"), span=8))
    d = d.with_panel(graph(
        "Decode errors/s by reason", "Frames whose decoding stopped on an error (truncated, "
        "malformed...).", "pps",
        query(f'topk({TOP}, {per_second("ybsensor_decode_errors_total", "reason")})',
              "{{reason}}"), span=8))
    batch = f'rate(ybsensor_batch_duration_seconds_bucket{{{SENSOR}}}[$__rate_interval])'
    d = d.with_panel(graph(
        "Batch time per sensor", "Time to take one batch through the pipeline, per sensor: "
        "median and 99th percentile (the slowest sensor shows).", "s",
        query(f'histogram_quantile(0.5, sum by (instance, le) ({batch}))', "{{instance}} p50"),
        query(f'histogram_quantile(0.99, sum by (instance, le) ({batch}))', "{{instance}} p99"),
        span=8))
    d = d.with_panel(graph(
        "Active flows", "Flows in the flow tables of all capture workers.", "short",
        query(f'sum by (instance) (ybsensor_flows_active{{{SENSOR}}})', "{{instance}}"),
        span=8))
    d = d.with_panel(graph(
        "Flows evicted/s", "Flows leaving the flow tables per second (idle, or least recently "
        "seen when full).", "ops",
        query(per_second("ybsensor_flows_evicted_total"), "{{instance}}"), span=8))
    d = d.with_panel(graph(
        "Alert records written/s", "Alert records written to the alert log per second.", "ops",
        query(per_second("ybsensor_alerts_written_total"), "{{instance}}"), span=8))
    d = d.with_panel(graph(
        "Alert log failures/s", "Failed writes of the alert log (disk full, I/O error) and "
        "alerts dropped from a full backlog, per second.", "ops",
        query(per_second("ybsensor_alert_write_errors_total"), "{{instance}} write errors"),
        query(per_second("ybsensor_alerts_dropped_total"), "{{instance}} dropped"), span=8))
    d = d.with_panel(graph(
        "Alert backlog", "Alert records waiting to be written while the log fails.", "short",
        query(f'sum by (instance) (ybsensor_alert_backlog{{{SENSOR}}})', "{{instance}}"),
        span=8))
    return d


def render() -> str:
    """The dashboard's JSON; panel ids, query ref ids and the variables' `definition` (what
    Grafana shows of a query variable) are numbered here, where the whole is known."""
    model = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    for number, panel in enumerate(model["panels"], 1):
        panel["id"] = number
        for k, target in enumerate(panel.get("targets", [])):
            target["refId"] = chr(ord("A") + k)
    for var in model["templating"]["list"]:
        if var["type"] == "query":
            var["definition"] = var["query"]
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
