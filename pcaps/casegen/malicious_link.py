"""Builders of the malicious_link (CQ annex 7) cases: indicators from pcaps/intel/cases.txt
matched in a DNS question (a listed domain's subdomain), an HTTP URL asked of a proxy, and a
flow to a listed network; and look-alikes that must raise nothing. Each inside GRE or L2TP."""
from __future__ import annotations

from casegen import Case

INTEL = "../../intel/cases.txt"   # from the case's folder
CONFIG = f'\n[detectors.malicious_link]\npaths = ["{INTEL}"]\n'
RULE = ("malicious_link (CQ annex 7): a DNS question, TLS server name, HTTP Host or URL, or "
        "flow endpoint that an indicator file lists (a domain with every name under it, a "
        "URL with or without its query, an address or network) raises an alert of the "
        "indicator's severity, naming the indicator, its source and its file; one alert per "
        "client and name, or per flow for an endpoint")
LISTED = {"indicator": None, "source": "case-feed", "list": "cases.txt"}


def case(name: str, text: str) -> Case:
    c = Case(name, text)
    c.extra_config = CONFIG
    return c


def listed(**more) -> dict:
    return {**LISTED, **more}
