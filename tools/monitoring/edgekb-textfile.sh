#!/bin/sh
# edgekb-textfile.sh: one METRICS scrape of a running edgekb, written for
# node_exporter's textfile collector (docs/monitoring.md). Run it every
# 15-60 s (a systemd timer or cron). The file is replaced atomically (a
# temporary file in the same directory, then rename); on any failure the old
# file stays, its mtime ages and the EdgekbMetricsStale alert fires.
# Usage: edgekb-textfile.sh [SOCK] [DIR]
#   SOCK  the server's socket (default /run/edgekb/edgekb.sock)
#   DIR   the collector's directory (default /var/lib/prometheus/node-exporter)
# EDGEKB: the binary (default: edgekb on PATH).
set -eu
sock=${1:-/run/edgekb/edgekb.sock}
dir=${2:-/var/lib/prometheus/node-exporter}
bin=${EDGEKB:-edgekb}
tmp=$(mktemp "$dir/.edgekb.prom.XXXXXX")
trap 'rm -f "$tmp" "$tmp.reply"' EXIT
"$bin" -q cli --sock "$sock" METRICS >"$tmp.reply"
# the reply: "OK <n>" then n lines of Prometheus text
head -n 1 "$tmp.reply" | grep -q '^OK [0-9][0-9]*$' || { echo "edgekb-textfile: METRICS refused: $(head -n 1 "$tmp.reply")" >&2; rm -f "$tmp.reply"; exit 1; }
tail -n +2 "$tmp.reply" >"$tmp"
rm -f "$tmp.reply"
chmod 0644 "$tmp"
mv "$tmp" "$dir/edgekb.prom"
trap - EXIT
