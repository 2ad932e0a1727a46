#!/usr/bin/env python3
"""A small DogStatsD server, written independently of lastbucket, for its black-box tests.

lastbucket's `check --server-cmd` starts a server, acts as its Datadog intake, sends it
traffic, stops it with SIGTERM and checks that every sample shows up in what it posted. Its
own `lastbucket serve` cannot keep that intake honest on its own (the same people wrote both
ends), so this server encodes its payloads with Google's `protobuf` package from a .proto of
its own (agent_payload.proto, loaded by proto_loader.py: no protoc, nothing generated).

It is configured the way the Datadog agent is, from the environment:
  DD_DD_URL                      intake base URL (required), e.g. http://127.0.0.1:PORT
  DD_API_KEY                     sent as the DD-API-KEY header (required, non-empty)
  DD_HOSTNAME                    host of every series and sketch (default: lastbucket)
  DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS   true: on SIGTERM read what is still in the socket
                                 and flush the open bucket too; false (default): flush only
                                 closed buckets, the open one is dropped
  DD_DOGSTATSD_PORT, DD_BIND_HOST, DD_DOGSTATSD_NON_LOCAL_TRAFFIC   UDP listener
  DD_DOGSTATSD_SOCKET            unixgram listener (path)
  DD_DOGSTATSD_STREAM_SOCKET     unix stream listener (path; 4-byte little-endian length
                                 before each message)
  DD_FLUSH_INTERVAL_SECONDS      how often closed buckets are posted (default 1 s here, so
                                 tests are quick; the agent's is 15 s)
  DD_HISTOGRAM_AGGREGATES        default "max median avg count"
  DD_HISTOGRAM_PERCENTILES       default "0.95"
  LASTBUCKET_TEST_DROP_ON_STOP=1 or --drop-on-stop   the bug the tool must catch: on SIGTERM
                                 drop everything still held and post nothing more

Unlike the agent, no UDP port is opened unless DD_DOGSTATSD_PORT is set (the agent's default
8125 would collide between tests running in parallel); at least one listener is required.

What it posts (Content-Encoding: deflate, since Python has no zstd in its standard library):
  /api/v2/series       MetricPayload (protobuf): counters as RATE (sum / 10, interval 10),
                       gauges as GAUGE (last value), sets as GAUGE (distinct count),
                       histograms and timings as .count (RATE) and .max .median .avg
                       .95percentile (GAUGE); timestamped (`|T`) gauges and counters as one
                       point each at their own timestamp (other types are dropped, counted)
  /api/beta/sketches   SketchPayload (protobuf): one Dogsketch per distribution context and
                       bucket, cnt/min/max/avg/sum exact, bins in the agent's key mapping
  /api/v1/check_run    JSON array of service checks (the public v1 API shape)
  /api/v1/events       one JSON event per request (the public v1 API shape)

Buckets follow this process's clock: a sample received at second ts lands in the bucket
ts - ts % 10. Counters that go quiet are not flushed as zeros (the agent does that for 300 s).

At exit it prints one line `dogstatsd_server stats: {json}` to stderr (and writes the same
JSON to --stats-out PATH if given): what it received, rejected, posted and dropped. Exit
status: 0, or 1 if a payload could not be delivered after retries, 2 for a bad configuration.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import selectors
import signal
import socket
import struct
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import proto_loader  # noqa: E402  (after the path set-up above)

BUCKET_SECONDS = 10
READ_SIZE = 65536  # larger than any datagram the agent accepts (8192 by default)
MAX_STREAM_MESSAGE = 8 * 1024 * 1024
RECEIVE_BUFFER = 16 * 1024 * 1024
SERIES_PER_PAYLOAD = 2000
SKETCHES_PER_PAYLOAD = 1000
POST_TRIES = 3

# Tags the agent takes out of a sample's tags (origin metadata for its tagger).
ORIGIN_TAG_PREFIXES = ("dd.internal.entity_id:", "dd.internal.card:", "dd.internal.jmx_check_name:")

_classes = proto_loader.load(HERE / "agent_payload.proto")
MetricPayload = _classes["datadog.agentpayload.MetricPayload"]
SketchPayload = _classes["datadog.agentpayload.SketchPayload"]
RATE = MetricPayload.MetricType.Value("RATE")
GAUGE = MetricPayload.MetricType.Value("GAUGE")


class ConfigError(Exception):
    """The environment does not describe a server that can run."""


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass
class Config:
    url: str
    api_key: str
    hostname: str
    flush_incomplete: bool
    drop_on_stop: bool
    flush_interval: float
    udp: tuple[str, int] | None
    unixgram: str | None
    unix_stream: str | None
    aggregates: list[str]
    percentiles: list[float]
    stats_out: str | None

    @staticmethod
    def from_env(env: dict[str, str], argv: list[str]) -> "Config":
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("--drop-on-stop", action="store_true",
                            help="on SIGTERM drop everything still held (a deliberate bug)")
        parser.add_argument("--stats-out", metavar="PATH", help="write the exit stats here")
        args = parser.parse_args(argv)

        url = env.get("DD_DD_URL", "").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"DD_DD_URL must be an http(s) URL, got {url!r}")
        api_key = env.get("DD_API_KEY", "")
        if not api_key:
            raise ConfigError("DD_API_KEY must be set and non-empty")

        udp = None
        if env.get("DD_DOGSTATSD_PORT"):
            port = _int(env, "DD_DOGSTATSD_PORT", 0, 65535)
            if port:
                host = env.get("DD_BIND_HOST", "localhost")
                if truthy(env.get("DD_DOGSTATSD_NON_LOCAL_TRAFFIC", "false")):
                    host = "0.0.0.0"
                udp = ("127.0.0.1" if host == "localhost" else host, port)
        unixgram = env.get("DD_DOGSTATSD_SOCKET") or None
        unix_stream = env.get("DD_DOGSTATSD_STREAM_SOCKET") or None
        if not (udp or unixgram or unix_stream):
            raise ConfigError("no listener: set DD_DOGSTATSD_PORT, DD_DOGSTATSD_SOCKET "
                              "or DD_DOGSTATSD_STREAM_SOCKET")

        interval = env.get("DD_FLUSH_INTERVAL_SECONDS", "1")
        try:
            flush_interval = float(interval)
        except ValueError:
            flush_interval = -1.0
        if not (0 < flush_interval <= 3600):
            raise ConfigError(f"DD_FLUSH_INTERVAL_SECONDS must be in (0, 3600], got {interval!r}")

        aggregates = env.get("DD_HISTOGRAM_AGGREGATES", "max median avg count").split()
        unknown = set(aggregates) - {"max", "min", "median", "avg", "sum", "count"}
        if unknown:
            raise ConfigError(f"DD_HISTOGRAM_AGGREGATES: unknown {sorted(unknown)}")
        try:
            percentiles = [float(p) for p in env.get("DD_HISTOGRAM_PERCENTILES", "0.95").split()]
        except ValueError:
            raise ConfigError("DD_HISTOGRAM_PERCENTILES must be numbers in (0, 1)") from None
        if any(not 0 < p < 1 for p in percentiles):
            raise ConfigError("DD_HISTOGRAM_PERCENTILES must be numbers in (0, 1)")

        return Config(
            url=url,
            api_key=api_key,
            hostname=env.get("DD_HOSTNAME") or "lastbucket",
            flush_incomplete=truthy(env.get("DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS", "false")),
            drop_on_stop=args.drop_on_stop or env.get("LASTBUCKET_TEST_DROP_ON_STOP") == "1",
            flush_interval=flush_interval,
            udp=udp,
            unixgram=unixgram,
            unix_stream=unix_stream,
            aggregates=aggregates,
            percentiles=percentiles,
            stats_out=args.stats_out,
        )


def truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(env: dict[str, str], name: str, low: int, high: int) -> int:
    try:
        value = int(env[name])
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {env[name]!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {value}")
    return value


# --------------------------------------------------------------------------------------------
# Parsing DogStatsD lines


class Reject(Exception):
    """A line that is not valid DogStatsD; the message is the reason, counted by name."""


@dataclass
class Sample:
    name: str
    mtype: str  # c g s h ms d
    value: float | str  # str for sets
    rate: float
    tags: tuple[str, ...]
    host: str
    timestamp: int | None


@dataclass
class Event:
    title: str
    text: str
    timestamp: int | None
    host: str
    aggregation_key: str
    priority: str
    source_type_name: str
    alert_type: str
    tags: list[str]


@dataclass
class ServiceCheck:
    name: str
    status: int
    timestamp: int | None
    host: str
    message: str
    tags: list[str]


METRIC_TYPES = {"c", "g", "s", "h", "ms", "d"}


def parse_number(text: str) -> float:
    """A float as Go's ParseFloat reads it, near enough: decimal, exponent, nan/inf, hex."""
    if not text or text != text.strip():
        raise ValueError(text)
    try:
        return float(text)
    except ValueError:
        return float.fromhex(text)


def split_tags(raw: str, default_host: str) -> tuple[tuple[str, ...], str]:
    """Sorted, de-duplicated tags and the host (a `host:` tag overrides the default)."""
    host = default_host
    tags = set()
    for tag in raw.split(",") if raw else []:
        if tag.startswith("host:"):
            host = tag[5:]
        elif not tag.startswith(ORIGIN_TAG_PREFIXES):
            tags.add(tag)
    return tuple(sorted(tags)), host


def parse_metric(line: str, default_host: str) -> list[Sample]:
    """`name:value[:value...]|type[|@rate][|#tags][|T ts]...`: one sample per value."""
    fields = line.split("|")
    if len(fields) < 2 or not fields[1]:
        raise Reject("missing_type")
    name, sep, raw_values = fields[0].partition(":")
    if not name:
        raise Reject("empty_name")
    if not sep or not raw_values:
        raise Reject("missing_value")
    mtype = fields[1]
    if mtype not in METRIC_TYPES:
        raise Reject("unknown_type")

    rate, raw_tags, timestamp = 1.0, "", None
    for extra in fields[2:]:
        if extra.startswith("#"):
            raw_tags = extra[1:]
        elif extra.startswith("@"):
            try:
                rate = parse_number(extra[1:])
            except ValueError:
                raise Reject("bad_sample_rate") from None
        elif extra.startswith("T"):
            try:
                timestamp = int(extra[1:])
            except ValueError:
                raise Reject("bad_timestamp") from None
            if timestamp < 1:
                raise Reject("bad_timestamp")
        # Anything else (c:, e:, card:, unknown fields) is skipped, as the agent does.

    if mtype == "s":
        values: list[float | str] = [raw_values]
    else:
        values = []
        for raw in raw_values.split(":"):
            if raw:
                try:
                    values.append(parse_number(raw))
                except ValueError:
                    raise Reject("invalid_value") from None
        if not values:
            raise Reject("missing_value")
        if timestamp is not None and any(not math.isfinite(v) for v in values):
            raise Reject("invalid_value")

    tags, host = split_tags(raw_tags, default_host)
    return [Sample(name, mtype, v, rate, tags, host, timestamp) for v in values]


def parse_event(line: str, default_host: str) -> Event:
    """`_e{title_len,text_len}:title|text[|d:ts][|h:host][|k:key][|p:prio][|s:src][|t:type][|#tags]`."""
    head, sep, rest = line.partition("}:")
    if not sep:
        raise Reject("event_bad_header")
    try:
        title_len, text_len = (int(x) for x in head[3:].split(","))
    except ValueError:
        raise Reject("event_bad_header") from None
    body = rest.encode()
    if title_len < 1 or text_len < 0 or len(body) < title_len + 1 + text_len:
        raise Reject("event_bad_lengths")
    if body[title_len:title_len + 1] != b"|":
        raise Reject("event_bad_lengths")
    try:
        title = body[:title_len].decode()
        text = body[title_len + 1:title_len + 1 + text_len].decode()
        tail = body[title_len + 1 + text_len:].decode()
    except UnicodeDecodeError:
        raise Reject("event_bad_lengths") from None
    event = Event(title.replace("\\n", "\n"), text.replace("\\n", "\n"), None, default_host,
                  "", "normal", "", "info", [])
    raw_tags = ""
    for extra in tail.split("|")[1:]:
        if extra.startswith("d:"):
            try:
                event.timestamp = int(extra[2:])
            except ValueError:
                raise Reject("event_bad_timestamp") from None
        elif extra.startswith("h:"):
            event.host = extra[2:] or default_host
        elif extra.startswith("k:"):
            event.aggregation_key = extra[2:]
        elif extra.startswith("p:"):
            event.priority = extra[2:]
        elif extra.startswith("s:"):
            event.source_type_name = extra[2:]
        elif extra.startswith("t:"):
            event.alert_type = extra[2:]
        elif extra.startswith("#"):
            raw_tags = extra[1:]
    event.tags = [t for t in raw_tags.split(",") if t] if raw_tags else []
    return event


def parse_service_check(line: str, default_host: str) -> ServiceCheck:
    """`_sc|name|status[|d:ts][|h:host][|#tags][|m:message]`."""
    fields = line.split("|")
    if len(fields) < 3 or not fields[1]:
        raise Reject("service_check_bad_format")
    try:
        status = int(fields[2])
    except ValueError:
        raise Reject("service_check_bad_status") from None
    if not 0 <= status <= 3:
        raise Reject("service_check_bad_status")
    check = ServiceCheck(fields[1], status, None, default_host, "", [])
    for i, extra in enumerate(fields[3:], start=3):
        if extra.startswith("d:"):
            try:
                check.timestamp = int(extra[2:])
            except ValueError:
                raise Reject("service_check_bad_timestamp") from None
        elif extra.startswith("h:"):
            check.host = extra[2:] or default_host
        elif extra.startswith("#"):
            check.tags = [t for t in extra[1:].split(",") if t]
        elif extra.startswith("m:"):
            # The message is last and may itself hold `|`.
            check.message = "|".join([extra[2:]] + fields[i + 1:])
            break
    return check


# --------------------------------------------------------------------------------------------
# Sketch key mapping (DataDog/datadog-agent pkg/quantile: the agent's default configuration)

SKETCH_EPS = 1.0 / 128.0
SKETCH_GAMMA = 1 + 2 * SKETCH_EPS
SKETCH_GAMMA_LN = math.log1p(2 * SKETCH_EPS)
SKETCH_MIN_VALUE = 1e-9
SKETCH_BIAS = 1 - math.floor(math.log(SKETCH_MIN_VALUE) / SKETCH_GAMMA_LN)
SKETCH_MAX_KEY = (1 << 15) - 2  # int16 keys; one spot for +/- inf
SKETCH_INF_KEY = (1 << 15) - 1
SKETCH_NORM_MIN = SKETCH_GAMMA ** (1 - SKETCH_BIAS)  # smallest magnitude with a non-zero key
MAX_BIN_COUNT = 65535  # bins count in uint16; bigger counts take several bins of one key


def sketch_key(v: float) -> int:
    """k with gamma^(k - bias) nearest v in log space (round half to even, as the agent)."""
    if v < 0:
        return -sketch_key(-v)
    if v < SKETCH_NORM_MIN:  # zero and values too small to tell from it
        return 0
    if math.isinf(v):
        return SKETCH_INF_KEY
    k = round(math.log(v) / SKETCH_GAMMA_LN) + SKETCH_BIAS  # Python's round() is half-even
    if k > SKETCH_MAX_KEY:
        return SKETCH_INF_KEY
    return max(k, 1)


def sketch_bins(counts: dict[int, int]) -> tuple[list[int], list[int]]:
    """Keys ascending; a count over 65535 becomes its remainder then full bins, as the agent."""
    keys, ns = [], []
    for k in sorted(counts):
        n = counts[k]
        if n % MAX_BIN_COUNT:
            keys.append(k)
            ns.append(n % MAX_BIN_COUNT)
        for _ in range(n // MAX_BIN_COUNT):
            keys.append(k)
            ns.append(MAX_BIN_COUNT)
    return keys, ns


# --------------------------------------------------------------------------------------------
# Aggregation: per bucket, per context


@dataclass
class Distribution:
    cnt: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    avg: float = 0.0
    bins: Counter = field(default_factory=Counter)

    def insert(self, v: float, rate: float) -> None:
        # The agent: a rate outside (0, 1] counts as 1; the count takes the truncated 1/rate,
        # the sum the exact one; the average is a running mean over the truncated counts.
        if not 0 < rate <= 1:
            rate = 1.0
        weight = 1 / rate
        n = int(weight)
        self.cnt += n
        self.sum += v * weight
        self.min = min(self.min, v)
        self.max = max(self.max, v)
        self.avg += (v - self.avg) * n / self.cnt
        self.bins[sketch_key(v)] += n


@dataclass
class Histogram:
    samples: list[tuple[float, int]] = field(default_factory=list)  # (value, weight)
    count: int = 0
    sum: float = 0.0

    def insert(self, v: float, rate: float) -> None:
        # The agent weights a histogram sample by int64(1 / rate) (rate 0 counts as 1).
        if rate == 0:
            rate = 1.0
        weight = int(1 / rate)
        self.samples.append((v, weight))
        self.count += weight
        self.sum += v * (1 / rate)

    def rank(self, target: int) -> float | None:
        """The first value, in sorted order, whose cumulative weight passes target."""
        seen = 0
        for v, w in self.samples:
            seen += w
            if seen > target:
                return v
        return None


def trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as Go's."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


Context = tuple  # (name, tags, host)


@dataclass
class Bucket:
    counters: dict = field(default_factory=lambda: defaultdict(float))
    gauges: dict = field(default_factory=dict)
    sets: dict = field(default_factory=lambda: defaultdict(set))
    histograms: dict = field(default_factory=lambda: defaultdict(Histogram))
    distributions: dict = field(default_factory=lambda: defaultdict(Distribution))


class Aggregator:
    def __init__(self, config: Config, stats: Counter):
        self.config = config
        self.stats = stats
        self.buckets: dict[int, Bucket] = {}
        self.timestamped: list[tuple[Context, int, float, int]] = []  # ctx, ts, value, type
        self.events: list[Event] = []
        self.service_checks: list[ServiceCheck] = []
        # Samples held per bucket start, to say how many a stop dropped.
        self.held: Counter = Counter()

    def add(self, sample: Sample, now: int) -> None:
        ctx = (sample.name, sample.tags, sample.host)
        if sample.timestamp is not None:
            if sample.mtype == "g":
                self.timestamped.append((ctx, sample.timestamp, sample.value, GAUGE))
            elif sample.mtype == "c":
                self.timestamped.append(
                    (ctx, sample.timestamp, sample.value / BUCKET_SECONDS, RATE))
            else:  # the agent's no-aggregation path takes gauges and counters only
                self.stats["timestamped_unsupported_type"] += 1
                return
            self.stats["samples_timestamped"] += 1
            return
        if isinstance(sample.value, float) and not math.isfinite(sample.value):
            self.stats["samples_non_finite"] += 1  # the agent's samplers refuse them
            return
        start = now - now % BUCKET_SECONDS
        bucket = self.buckets.setdefault(start, Bucket())
        v = sample.value
        if sample.mtype == "c":
            bucket.counters[ctx] += v * (math.inf if sample.rate == 0 else 1 / sample.rate)
        elif sample.mtype == "g":
            bucket.gauges[ctx] = v
        elif sample.mtype == "s":
            bucket.sets[ctx].add(v)
        elif sample.mtype in ("h", "ms"):
            bucket.histograms[ctx].insert(v, sample.rate)
        else:
            bucket.distributions[ctx].insert(v, sample.rate)
        self.held[start] += 1
        self.stats[f"samples_{sample.mtype}"] += 1

    def take(self, now: int, everything: bool) -> "Flush":
        """Removes and returns the closed buckets (all of them if `everything`), the
        timestamped points, events and service checks."""
        cutoff = now - now % BUCKET_SECONDS
        starts = sorted(s for s in self.buckets if everything or s + BUCKET_SECONDS <= cutoff)
        flush = Flush([(s, self.buckets.pop(s)) for s in starts], self.timestamped,
                      self.events, self.service_checks)
        for s in starts:
            self.stats["samples_flushed"] += self.held.pop(s, 0)
        self.timestamped, self.events, self.service_checks = [], [], []
        return flush

    def drop_all(self, reason: str) -> None:
        self.stats[f"samples_dropped_{reason}"] += sum(self.held.values())
        self.stats[f"timestamped_dropped_{reason}"] += len(self.timestamped)
        self.stats[f"events_dropped_{reason}"] += len(self.events)
        self.stats[f"service_checks_dropped_{reason}"] += len(self.service_checks)
        self.buckets.clear()
        self.held.clear()
        self.timestamped, self.events, self.service_checks = [], [], []


@dataclass
class Flush:
    buckets: list[tuple[int, Bucket]]
    timestamped: list
    events: list[Event]
    service_checks: list[ServiceCheck]


# --------------------------------------------------------------------------------------------
# Encoding


def build_series(flush: Flush, config: Config) -> list:
    """MetricSeries messages, one per (context, type), with a point per bucket."""
    points: dict[tuple, list[tuple[int, float]]] = defaultdict(list)

    def point(name: str, tags, host: str, mtype: int, ts: int, value: float) -> None:
        points[(name, tags, host, mtype)].append((ts, value))

    for start, b in flush.buckets:
        for (name, tags, host), total in b.counters.items():
            point(name, tags, host, RATE, start, total / BUCKET_SECONDS)
        for (name, tags, host), value in b.gauges.items():
            point(name, tags, host, GAUGE, start, value)
        for (name, tags, host), values in b.sets.items():
            point(name, tags, host, GAUGE, start, float(len(values)))
        for (name, tags, host), h in b.histograms.items():
            for suffix, mtype, value in histogram_values(h, config):
                point(name + suffix, tags, host, mtype, start, value)
    for (name, tags, host), ts, value, mtype in flush.timestamped:
        point(name, tags, host, mtype, ts, value)

    series = []
    for (name, tags, host, mtype), pts in points.items():
        s = MetricPayload.MetricSeries(metric=name, type=mtype, interval=BUCKET_SECONDS)
        s.resources.add(type="host", name=host)
        s.tags.extend(tags)
        for ts, value in sorted(pts):
            s.points.add(value=value, timestamp=ts)
        series.append(s)
    return series


def histogram_values(h: Histogram, config: Config) -> list[tuple[str, int, float]]:
    """The agent's default aggregates over the weighted samples sorted by value."""
    if not h.samples:
        return []
    h.samples.sort(key=lambda s: s[0])
    out = []
    for agg in config.aggregates:
        if agg == "max":
            out.append((".max", GAUGE, h.samples[-1][0]))
        elif agg == "min":
            out.append((".min", GAUGE, h.samples[0][0]))
        elif agg == "median":
            out.append((".median", GAUGE, h.rank(trunc_div(h.count - 1, 2)) or 0.0))
        elif agg == "avg" and h.count != 0:
            out.append((".avg", GAUGE, h.sum / h.count))
        elif agg == "sum":
            out.append((".sum", GAUGE, h.sum))
        elif agg == "count":
            out.append((".count", RATE, h.count / BUCKET_SECONDS))
    for p in config.percentiles:
        pct = round(p * 100)
        value = h.rank(trunc_div(pct * h.count - 1, 100))
        if value is not None:
            out.append((f".{pct}percentile", GAUGE, value))
    return out


def build_sketches(flush: Flush) -> list:
    by_context: dict[Context, list] = defaultdict(list)
    for start, b in flush.buckets:
        for ctx, d in b.distributions.items():
            by_context[ctx].append((start, d))
    sketches = []
    for (name, tags, host), dists in by_context.items():
        sk = SketchPayload.Sketch(metric=name, host=host)
        sk.tags.extend(tags)
        for start, d in dists:
            keys, ns = sketch_bins(d.bins)
            ds = sk.dogsketches.add(ts=start, cnt=d.cnt, min=d.min, max=d.max, avg=d.avg,
                                    sum=d.sum)
            ds.k.extend(keys)
            ds.n.extend(ns)
        sketches.append(sk)
    return sketches


def event_json(e: Event, now: int) -> dict:
    body = {"title": e.title, "text": e.text, "date_happened": e.timestamp or now,
            "host": e.host, "tags": e.tags, "priority": e.priority, "alert_type": e.alert_type}
    if e.aggregation_key:
        body["aggregation_key"] = e.aggregation_key
    if e.source_type_name:
        body["source_type_name"] = e.source_type_name
    return body


def service_check_json(c: ServiceCheck, now: int) -> dict:
    return {"check": c.name, "host_name": c.host, "timestamp": c.timestamp or now,
            "status": c.status, "message": c.message, "tags": c.tags}


# --------------------------------------------------------------------------------------------
# Posting


class Poster:
    def __init__(self, config: Config, stats: Counter):
        self.config = config
        self.stats = stats

    def post(self, path: str, body: bytes, content_type: str) -> None:
        request = urllib.request.Request(
            self.config.url + path,
            data=zlib.compress(body),
            method="POST",
            headers={
                "DD-API-KEY": self.config.api_key,
                "Content-Type": content_type,
                "Content-Encoding": "deflate",
                "User-Agent": "lastbucket-test-dogstatsd-server/1",
            },
        )
        for attempt in range(1, POST_TRIES + 1):
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                self.stats[f"posts{path}"] += 1
                return
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                log(f"POST {path} failed (try {attempt}/{POST_TRIES}): {err}")
                if attempt < POST_TRIES:
                    time.sleep(0.2 * attempt)
        self.stats["posts_failed"] += 1

    def send(self, flush: Flush, config: Config) -> None:
        now = int(time.time())
        series = build_series(flush, config)
        for i in range(0, len(series), SERIES_PER_PAYLOAD):
            payload = MetricPayload()
            payload.series.extend(series[i:i + SERIES_PER_PAYLOAD])
            self.post("/api/v2/series", payload.SerializeToString(), "application/x-protobuf")
            self.stats["series_posted"] += len(payload.series)
        sketches = build_sketches(flush)
        for i in range(0, len(sketches), SKETCHES_PER_PAYLOAD):
            payload = SketchPayload()
            payload.sketches.extend(sketches[i:i + SKETCHES_PER_PAYLOAD])
            self.post("/api/beta/sketches", payload.SerializeToString(),
                      "application/x-protobuf")
            self.stats["sketches_posted"] += len(payload.sketches)
        if flush.service_checks:
            body = json.dumps([service_check_json(c, now) for c in flush.service_checks])
            self.post("/api/v1/check_run", body.encode(), "application/json")
            self.stats["service_checks_posted"] += len(flush.service_checks)
        for event in flush.events:
            self.post("/api/v1/events", json.dumps(event_json(event, now)).encode(),
                      "application/json")
            self.stats["events_posted"] += 1


# --------------------------------------------------------------------------------------------
# Listeners and the main loop


def log(message: str) -> None:
    print(f"dogstatsd_server: {message}", file=sys.stderr, flush=True)


class Server:
    def __init__(self, config: Config):
        self.config = config
        self.stats: Counter = Counter()
        self.aggregator = Aggregator(config, self.stats)
        self.poster = Poster(config, self.stats)
        self.selector = selectors.DefaultSelector()
        self.datagram_sockets: list[socket.socket] = []
        self.stream_listener: socket.socket | None = None
        self.streams: dict[socket.socket, bytearray] = {}
        self.paths: list[str] = []
        self.stopping = False
        # A signal only sets a flag; this pair wakes the select() that would otherwise be
        # retried (PEP 475) without ever looking at the flag.
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)

    # -- set-up ------------------------------------------------------------------------------

    def listen(self) -> None:
        # The handlers come first: a stop sent as soon as a socket is bound (which is when
        # a harness sees the server as ready) must find them in place.
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        c = self.config
        if c.udp:
            s = socket.socket(socket.AF_INET6 if ":" in c.udp[0] else socket.AF_INET,
                              socket.SOCK_DGRAM)
            self._big_buffer(s)
            s.bind(c.udp)
            self._add_datagram(s)
            log(f"listening on udp://{c.udp[0]}:{c.udp[1]}")
        if c.unixgram:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._big_buffer(s)
            self._bind_path(s, c.unixgram)
            self._add_datagram(s)
            log(f"listening on unixgram://{c.unixgram}")
        if c.unix_stream:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._bind_path(s, c.unix_stream)
            s.listen(64)
            s.setblocking(False)
            self.stream_listener = s
            self.selector.register(s, selectors.EVENT_READ, self._accept)
            log(f"listening on unix://{c.unix_stream}")

    @staticmethod
    def _big_buffer(s: socket.socket) -> None:
        """A large receive buffer, so bursts wait in the kernel instead of being dropped.
        SO_RCVBUFFORCE (Linux, 33; Python does not name it) passes rmem_max when allowed
        (root); otherwise SO_RCVBUF, which the kernel caps at rmem_max."""
        for option in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            try:
                s.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
                return
            except OSError:
                continue

    def _bind_path(self, s: socket.socket, path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)  # a stale socket of an earlier run
        s.bind(path)
        self.paths.append(path)

    def _add_datagram(self, s: socket.socket) -> None:
        s.setblocking(False)
        self.datagram_sockets.append(s)
        self.selector.register(s, selectors.EVENT_READ, self._read_datagrams)

    def _on_signal(self, signum, frame) -> None:
        self.stopping = True

    # -- reading -----------------------------------------------------------------------------

    def _read_datagrams(self, s: socket.socket) -> bool:
        """Reads every datagram waiting on s; False once the socket is empty."""
        got = False
        while True:
            try:
                data = s.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return got
            got = True
            self.stats["datagrams"] += 1
            self.handle_packet(data)

    def _accept(self, listener: socket.socket) -> bool:
        got = False
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return got
            got = True
            conn.setblocking(False)
            self.streams[conn] = bytearray()
            self.selector.register(conn, selectors.EVENT_READ, self._read_stream)
            self.stats["stream_connections"] += 1

    def _read_stream(self, conn: socket.socket) -> bool:
        buf = self.streams[conn]
        got = False
        while True:
            try:
                data = conn.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as err:
                log(f"stream connection error: {err}")
                data = b""
            if not data:
                self._close_stream(conn)
                return got
            got = True
            buf.extend(data)
            while len(buf) >= 4:
                (length,) = struct.unpack_from("<I", buf)
                if length > MAX_STREAM_MESSAGE:
                    log(f"stream message of {length} bytes is over {MAX_STREAM_MESSAGE}: "
                        "closing the connection")
                    self.stats["stream_oversized"] += 1
                    self._close_stream(conn)
                    return got
                if len(buf) < 4 + length:
                    break
                self.stats["stream_messages"] += 1
                self.handle_packet(bytes(buf[4:4 + length]))
                del buf[:4 + length]
        return got

    def _close_stream(self, conn: socket.socket) -> None:
        leftover = self.streams.pop(conn, b"")
        if leftover:
            self.stats["stream_truncated_bytes"] += len(leftover)
            log(f"stream closed with {len(leftover)} bytes of an incomplete message")
        self.selector.unregister(conn)
        conn.close()

    def handle_packet(self, data: bytes) -> None:
        now = int(time.time())
        host = self.config.hostname
        for raw in data.split(b"\n"):
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw:
                continue
            self.stats["lines"] += 1
            try:
                line = raw.decode("utf-8")
                if line.startswith("_e{"):
                    self.aggregator.events.append(parse_event(line, host))
                    self.stats["events"] += 1
                elif line.startswith("_sc|"):
                    self.aggregator.service_checks.append(parse_service_check(line, host))
                    self.stats["service_checks"] += 1
                else:
                    for sample in parse_metric(line, host):
                        self.aggregator.add(sample, now)
            except UnicodeDecodeError:
                self._reject("invalid_utf8", raw)
            except Reject as err:
                self._reject(str(err), raw)

    def _reject(self, reason: str, raw: bytes) -> None:
        self.stats[f"rejected_{reason}"] += 1
        if self.stats["rejected_logged"] < 20:
            self.stats["rejected_logged"] += 1
            log(f"rejected line ({reason}): {raw[:200]!r}")

    # -- running -----------------------------------------------------------------------------

    def flush(self, everything: bool) -> None:
        self.poster.send(self.aggregator.take(int(time.time()), everything), self.config)

    def run(self) -> int:
        next_flush = time.monotonic() + self.config.flush_interval
        while not self.stopping:
            timeout = max(0.0, next_flush - time.monotonic())
            for key, _ in self.selector.select(timeout):
                if key.data is None:  # the signal wake-up
                    try:
                        self.wake_r.recv(512)
                    except BlockingIOError:
                        pass
                    continue
                key.data(key.fileobj)
                if self.stopping:
                    break
            if not self.stopping and time.monotonic() >= next_flush:
                self.flush(everything=False)
                next_flush = time.monotonic() + self.config.flush_interval
        return self.stop()

    def stop(self) -> int:
        """The stop sequence, in one place. The drop switch first: it must post nothing.
        With the flag on, everything still in the sockets is read before anything is
        flushed, then every bucket (the open one too) goes out; with it off the sockets are
        left unread and the open bucket is dropped. Only then are the sockets closed."""
        c = self.config
        if c.drop_on_stop:
            log("stop: --drop-on-stop: dropping everything still held")
            self.aggregator.drop_all("on_stop")
        elif c.flush_incomplete:
            self.drain()
            self.flush(everything=True)
        else:
            self.flush(everything=False)
            self.aggregator.drop_all("open_bucket")
        self.close()
        self.report()
        return 1 if self.stats["posts_failed"] else 0

    def drain(self) -> None:
        """Reads until every socket (and every stream connection) is empty."""
        busy = True
        while busy:
            busy = False
            for s in self.datagram_sockets:
                busy |= self._read_datagrams(s)
            if self.stream_listener is not None:
                busy |= self._accept(self.stream_listener)
            for conn in list(self.streams):
                busy |= self._read_stream(conn)

    def close(self) -> None:
        for conn in list(self.streams):
            self._close_stream(conn)
        for s in self.datagram_sockets:
            s.close()
        if self.stream_listener is not None:
            self.stream_listener.close()
        for path in self.paths:
            try:
                os.unlink(path)
            except OSError:
                pass

    def report(self) -> None:
        stats = dict(sorted(self.stats.items()))
        stats.pop("rejected_logged", None)
        text = json.dumps(stats, sort_keys=True)
        log(f"stats: {text}")
        if self.config.stats_out:
            Path(self.config.stats_out).write_text(text + "\n", encoding="utf-8")


def main(argv: list[str]) -> int:
    try:
        config = Config.from_env(dict(os.environ), argv)
    except ConfigError as err:
        log(f"configuration error: {err}")
        return 2
    server = Server(config)
    try:
        server.listen()
    except OSError as err:
        log(f"cannot listen: {err}")
        return 2
    log(f"flush_incomplete_buckets={str(config.flush_incomplete).lower()} "
        f"drop_on_stop={str(config.drop_on_stop).lower()} intake={config.url}")
    return server.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
