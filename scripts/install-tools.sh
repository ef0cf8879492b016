#!/usr/bin/env bash
# Installs the outside tools the tests start for real: tshark (decoder agreement),
# tcpdump and tcpreplay (peers, live capture). Debian packages, as root where we are root.
# A tool that stays missing is reported; the tests then skip it, or fail it under CI=true.
set -u
need=()
for tool in tshark tcpdump tcpreplay; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
# editcap (`wireshark-common`, with tshark): a rotating capture cut from one (test_cluster)
command -v editcap >/dev/null 2>&1 || need+=(wireshark-common)
# nDPI's ndpiReader: remote_control beside nDPI's remote-access category (`libndpi-bin`)
command -v ndpiReader >/dev/null 2>&1 || need+=(libndpi-bin)
# live capture and the operator's surface: promtool and a Prometheus server (Debian's
# `prometheus`), ip (`iproute2`: network namespaces), setpriv (`util-linux`)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
# the syslog sinks are tested against a real rsyslog (with its TLS driver) and a
# certificate made by openssl
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog)
ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1 || need+=(rsyslog-openssl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# curl: a real HTTP/2 client (nghttp2) for the cleartext HTTP/2 scenarios (test_real_clients)
command -v curl >/dev/null 2>&1 || need+=(curl)
# openvpn: a real OpenVPN client and server off its port, for internet_vpn (test_openvpn)
command -v openvpn >/dev/null 2>&1 || need+=(openvpn)
# the README's analyst walkthrough is run as written, with jq
command -v jq >/dev/null 2>&1 || need+=(jq)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  echo "installing ${need[*]}" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
missing=()
need=("${need[@]/libndpi-bin/ndpiReader}")
need=("${need[@]/iproute2/ip}")       # packages above, named by the program they bring
need=("${need[@]/util-linux/setpriv}")
need=("${need[@]/wireshark-common/editcap}")
need=("${need[@]/#rsyslog/rsyslogd}")
for tool in "${need[@]}"; do
  case "$tool" in
    rsyslogd-openssl) ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1 || missing+=(rsyslog-openssl) ;;
    *) command -v "$tool" >/dev/null 2>&1 || missing+=("$tool") ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-tools: could not install: ${missing[*]} (tests that need them will skip;" \
       "under CI=true they fail)" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
exit 0
