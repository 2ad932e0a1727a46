#!/usr/bin/env python3
"""Self-test of dogstatsd_server.py, with no lastbucket in the loop.

Each scenario starts the server as a child process with a stdlib HTTP intake of its own,
sends it real UDP, unixgram and unix-stream traffic on loopback, stops it with SIGTERM, and
decodes what it posted with the same message classes (proto_loader) to check the totals:
  - flag on: everything sent is posted, the open bucket included;
  - flag off: the closed bucket is posted, the open bucket is missing (and counted dropped);
  - drop switch: nothing is posted after the last periodic flush.

Run: python3 tests/servers/test_server.py   (or python3 -m unittest discover -s tests/servers)
Needs the `protobuf` package (tests/servers/setup.sh installs it).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dogstatsd_server as ds  # noqa: E402

SERVER = HERE / "dogstatsd_server.py"
DEADLINE_S = 20.0  # any wait on the server gives up after this


def wait_for(what: str, predicate, deadline_s: float = DEADLINE_S):
    """Polls predicate until it returns something truthy; fails with `what` at the deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


def bucket(ts: float) -> int:
    ts = int(ts)
    return ts - ts % ds.BUCKET_SECONDS


# --------------------------------------------------------------------------------------------
# The intake


class Intake:
    """A tiny Datadog intake: records every POST (path, headers, inflated body)."""

    def __init__(self):
        self.requests: list[tuple[str, dict, bytes]] = []
        self.lock = threading.Lock()
        intake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "deflate":
                    body = zlib.decompress(body)
                with intake.lock:
                    intake.requests.append((self.path, self.headers, body))  # case-insensitive
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.http.shutdown()
        self.http.server_close()

    def snapshot(self) -> list[tuple[str, dict, bytes]]:
        with self.lock:
            return list(self.requests)

    def decoded(self) -> "Posted":
        return Posted(self.snapshot())


class Posted:
    """What the server posted, decoded and summed the way lastbucket's oracle would."""

    def __init__(self, requests):
        self.requests = requests
        self.series = []
        self.sketches = []
        self.events = []
        self.service_checks = []
        for path, headers, body in requests:
            if path == "/api/v2/series":
                payload = ds.MetricPayload()
                payload.ParseFromString(body)
                self.series.extend(payload.series)
            elif path == "/api/beta/sketches":
                payload = ds.SketchPayload()
                payload.ParseFromString(body)
                self.sketches.extend(payload.sketches)
            elif path == "/api/v1/events":
                self.events.append(json.loads(body))
            elif path == "/api/v1/check_run":
                self.service_checks.extend(json.loads(body))
            else:
                raise AssertionError(f"unexpected endpoint {path}")

    def points(self, metric: str):
        return [(p.timestamp, p.value, s) for s in self.series if s.metric == metric
                for p in s.points]

    def counter_total(self, metric: str) -> float:
        """Samples of a counter: RATE x interval, over every point."""
        total = sum(v * s.interval for _, v, s in self.points(metric) if s.type == ds.RATE)
        return round(total, 6)  # x / 10 * 10 is not always x in floating point

    def dogsketches(self, metric: str):
        return [d for s in self.sketches if s.metric == metric for d in s.dogsketches]


# --------------------------------------------------------------------------------------------
# The server under test


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_bound(port: int) -> bool:
    """Whether some socket is bound to UDP port on this host (/proc/net/udp, as lastbucket)."""
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1].endswith(f":{port:04X}") for line in lines)


def udp_unread_bytes(port: int) -> int | None:
    """Bytes waiting in the receive queue of the socket bound to UDP port (rx_queue)."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}"):
            return int(fields[4].split(":")[1], 16)
    return None


class Running:
    """One server process and its intake."""

    def __init__(self, tmp: Path, flag: bool, extra_env=None, args=(), udp=True,
                 unixgram=True, stream=True):
        self.intake = Intake()
        self.stats_path = tmp / f"stats-{id(self)}.json"
        self.port = free_udp_port() if udp else None
        self.dgram_path = str(tmp / f"dsd-{id(self)}.sock") if unixgram else None
        self.stream_path = str(tmp / f"dsd-{id(self)}.stream") if stream else None
        env = {k: v for k, v in os.environ.items() if not k.startswith("DD_")}
        env.pop("LASTBUCKET_TEST_DROP_ON_STOP", None)
        env.update({
            "DD_DD_URL": self.intake.url,
            "DD_API_KEY": "test-key",
            "DD_HOSTNAME": "selftest-host",
            "DD_DOGSTATSD_FLUSH_INCOMPLETE_BUCKETS": "true" if flag else "false",
            "DD_FLUSH_INTERVAL_SECONDS": "0.2",
        })
        if self.port:
            env.update({"DD_DOGSTATSD_PORT": str(self.port), "DD_BIND_HOST": "127.0.0.1",
                        "DD_DOGSTATSD_NON_LOCAL_TRAFFIC": "false"})
        if self.dgram_path:
            env["DD_DOGSTATSD_SOCKET"] = self.dgram_path
        if self.stream_path:
            env["DD_DOGSTATSD_STREAM_SOCKET"] = self.stream_path
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--stats-out", str(self.stats_path), *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.sockets: list[socket.socket] = []
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early ({self.proc.returncode}): "
                                     f"{self.proc.stderr.read().decode()}")
            ok = True
            if self.port:
                ok &= udp_bound(self.port)
            for path, kind in ((self.dgram_path, socket.SOCK_DGRAM),
                               (self.stream_path, socket.SOCK_STREAM)):
                if path and ok:
                    with socket.socket(socket.AF_UNIX, kind) as probe:
                        try:
                            probe.connect(path)
                        except OSError:
                            ok = False
            return ok

        wait_for("the server's listeners", ready)
        if self.port:
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.connect(("127.0.0.1", self.port))
            self.sockets.append(self.udp)
        if self.dgram_path:
            self.dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.dgram.connect(self.dgram_path)
            self.sockets.append(self.dgram)
        if self.stream_path:
            self.stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.stream.connect(self.stream_path)
            self.sockets.append(self.stream)

    def wait_read(self):
        """Waits until the server has read everything sent to its UDP socket, so a stop
        without the flag cannot blur "dropped in the open bucket" with "never read"."""
        wait_for("the server to read its UDP socket", lambda: udp_unread_bytes(self.port) == 0)

    def send_udp(self, payload: str):
        self.udp.send(payload.encode())

    def send_dgram(self, payload: str):
        self.dgram.send(payload.encode())

    def send_stream(self, payload: str):
        data = payload.encode()
        self.stream.sendall(struct.pack("<I", len(data)) + data)

    def stop(self) -> tuple[int, dict, str]:
        """SIGTERM, wait for the exit; returns (exit code, stats, stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("server did not exit within the deadline after SIGTERM")
        for s in self.sockets:
            s.close()
        stats = json.loads(self.stats_path.read_text()) if self.stats_path.exists() else {}
        return self.proc.returncode, stats, err.decode()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.intake.close()

    def close(self):
        self.kill()


def wait_for_quiet_bucket_phase(margin_s: float = 3.0):
    """Waits until at least margin_s remain in the current 10 s bucket, so that traffic sent
    now and a stop right after it fall in one bucket (checked again afterwards)."""
    wait_for("a bucket phase with room for the scenario",
             lambda: ds.BUCKET_SECONDS - time.time() % ds.BUCKET_SECONDS > margin_s,
             deadline_s=ds.BUCKET_SECONDS)


# --------------------------------------------------------------------------------------------
# Scenarios


class ServerScenarios(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="dsd-selftest-"))
        self.running: list[Running] = []

    def tearDown(self):
        for r in self.running:
            r.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, **kw) -> Running:
        r = Running(self.tmp, **kw)
        self.running.append(r)
        return r

    def test_flag_on_posts_everything_sent_on_every_transport(self):
        r = self.start(flag=True)
        sent = {"udp": 0, "dgram": 0, "stream": 0}
        for i in range(300):
            # Several lines per datagram, trailing newline, one CRLF line, one bad line.
            r.send_udp(f"st.c:1|c|#via:udp,k:{i % 3}\nst.d:{i}|d|#via:udp\r\n"
                       f"st.h:{i % 50}|h\nst.s:user{i % 7}|s\nst.bad|c\n")
            sent["udp"] += 1
            r.send_dgram(f"st.c:2:3|c|#via:dgram\nst.g:{i}|g|#host:other")
            sent["dgram"] += 1
            r.send_stream(f"st.c:1|c|@0.5|#via:stream\nst.d:1:2|d|@0.25|#via:stream")
            sent["stream"] += 1
        r.send_udp("_e{5,11}:hello|event\\nbody|#a:b\n_sc|st.check|1|#c:d|m:ok")
        ts = int(time.time()) - 100
        r.send_dgram(f"st.t:5|c|T{ts}\nst.tg:7|g|T{ts}\nst.th:1|h|T{ts}")
        code, stats, err = r.stop()
        self.assertEqual(code, 0, err)
        posted = r.intake.decoded()

        self.assertEqual(stats.get("rejected_missing_value"), 300, stats)
        # Counters: 1 per udp datagram, 2 + 3 per unixgram one, 1 at @0.5 per stream message.
        self.assertEqual(posted.counter_total("st.c"), 300 * (1 + 5 + 2))
        by_via = {}
        for _, v, s in posted.points("st.c"):
            via = [t for t in s.tags if t.startswith("via:")][0]
            by_via[via] = round(by_via.get(via, 0) + v * s.interval, 6)
            self.assertEqual([(res.type, res.name) for res in s.resources],
                             [("host", "selftest-host")])
            self.assertEqual(s.interval, 10)
        self.assertEqual(by_via, {"via:udp": 300, "via:dgram": 1500, "via:stream": 600})
        # Tags are sorted; a host: tag becomes the host.
        self.assertTrue(all(list(s.tags) == sorted(s.tags) for s in posted.series))
        gauges = posted.points("st.g")
        self.assertEqual({s.resources[0].name for _, _, s in gauges}, {"other"})
        self.assertEqual(max(gauges, key=lambda p: p[0])[1], 299)
        # Histogram: every sample counted, max of the values.
        self.assertEqual(sum(v * s.interval for _, v, s in posted.points("st.h.count")), 300)
        self.assertEqual(max(v for _, v, _ in posted.points("st.h.max")), 49)
        for suffix in (".avg", ".median", ".95percentile"):
            self.assertTrue(posted.points("st.h" + suffix), suffix)
        # Sets: distinct values per bucket (7 users, whichever buckets they fell in).
        self.assertTrue(all(1 <= v <= 7 for _, v, _ in posted.points("st.s")))
        # Distributions: cnt, sum, min, max exact, and the bins hold cnt values.
        udp_d = [d for s in posted.sketches if s.metric == "st.d" and "via:udp" in s.tags
                 for d in s.dogsketches]
        self.assertEqual(sum(d.cnt for d in udp_d), 300)
        self.assertEqual(sum(d.sum for d in udp_d), sum(range(300)))
        self.assertEqual(min(d.min for d in udp_d), 0)
        self.assertEqual(max(d.max for d in udp_d), 299)
        stream_d = [d for s in posted.sketches if "via:stream" in s.tags for d in s.dogsketches]
        self.assertEqual(sum(d.cnt for d in stream_d), 300 * 2 * 4)
        self.assertEqual(sum(d.sum for d in stream_d), 300 * 3 * 4)
        for d in udp_d + stream_d:
            self.assertEqual(sum(d.n), d.cnt)
            self.assertEqual(list(d.k), sorted(d.k))
        self.assertTrue(all(s.host == "selftest-host" for s in posted.sketches))
        # Timestamped gauges and counters pass through at their own timestamp.
        self.assertEqual([(t, v) for t, v, _ in posted.points("st.t")], [(ts, 0.5)])
        self.assertEqual([(t, v) for t, v, _ in posted.points("st.tg")], [(ts, 7.0)])
        self.assertEqual(posted.points("st.th"), [])
        self.assertEqual(stats.get("timestamped_unsupported_type"), 1)
        # Events and service checks.
        self.assertEqual(len(posted.events), 1)
        self.assertEqual(posted.events[0]["text"], "event\nbody")
        self.assertEqual(posted.events[0]["tags"], ["a:b"])
        self.assertEqual([(c["check"], c["status"], c["message"]) for c in posted.service_checks],
                         [("st.check", 1, "ok")])
        # Headers of every post.
        for path, headers, _ in posted.requests:
            self.assertEqual(headers.get("DD-API-KEY"), "test-key", path)
            self.assertEqual(headers.get("Content-Encoding"), "deflate", path)
            want = "application/json" if path.startswith("/api/v1") else "application/x-protobuf"
            self.assertEqual(headers.get("Content-Type"), want, path)
        self.assertEqual(stats.get("samples_dropped_open_bucket", 0), 0)

    def test_flag_on_reads_what_is_still_in_the_socket_at_the_stop(self):
        r = self.start(flag=True, unixgram=False, stream=False)
        # Freeze the server (SIGSTOP), fill its UDP socket (UDP never blocks the sender, as a
        # full unixgram queue would), then SIGTERM and let it run: what it had not read when
        # the signal came must still be posted.
        os.kill(r.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(100):
                r.send_udp("unread.c:1|c")
            self.assertGreater(udp_unread_bytes(r.port), 0)
            os.kill(r.proc.pid, signal.SIGTERM)
        finally:
            os.kill(r.proc.pid, signal.SIGCONT)
        code, stats, err = r.stop()  # a second SIGTERM changes nothing
        self.assertEqual(code, 0, err)
        self.assertEqual(stats.get("datagrams"), 100, stats)
        self.assertEqual(r.intake.decoded().counter_total("unread.c"), 100)

    def test_flag_off_posts_the_closed_bucket_and_the_drop_switch_nothing_after_the_last_flush(
            self):
        # Two servers see the same traffic: one with the flag off, one with the flag on and
        # the drop switch (which must win over the flag).
        off = self.start(flag=False)
        drop = self.start(flag=True, args=["--drop-on-stop"])
        both = (off, drop)
        wait_for_quiet_bucket_phase()
        first_bucket = bucket(time.time())
        for r in both:
            for i in range(50):
                r.send_udp(f"a.c:1|c\na.d:{i}|d")
                r.send_dgram("a.c:1|c")
        # Wait until each has posted bucket A (it closes, then the next flush posts it).
        for r in both:
            wait_for("bucket A to be posted",
                     lambda r=r: r.intake.decoded().counter_total("a.c") == 100)
        second_bucket = bucket(time.time())
        self.assertGreater(second_bucket, first_bucket)
        for r in both:
            for i in range(40):
                r.send_udp(f"b.c:1|c\nb.d:{i}|d")
                r.send_udp("b.c:1|c")
        for r in both:
            r.wait_read()
        before_stop = {id(r): len(r.intake.snapshot()) for r in both}
        results = {id(r): r.stop() for r in both}
        self.assertEqual(bucket(time.time()), second_bucket,
                         "the stop must fall in the bucket of the second traffic")

        code, stats, err = results[id(off)]
        self.assertEqual(code, 0, err)
        posted = off.intake.decoded()
        self.assertEqual(posted.counter_total("a.c"), 100)
        self.assertEqual(sum(d.cnt for d in posted.dogsketches("a.d")), 50)
        self.assertEqual(posted.counter_total("b.c"), 0)
        self.assertEqual(posted.dogsketches("b.d"), [])
        self.assertTrue(all(t == first_bucket for t, _, _ in posted.points("a.c")))
        self.assertEqual(stats["samples_dropped_open_bucket"], 40 * 3)

        code, stats, err = results[id(drop)]
        self.assertEqual(code, 0, err)
        self.assertEqual(len(drop.intake.snapshot()), before_stop[id(drop)],
                         "the drop switch posted after the stop")
        posted = drop.intake.decoded()
        self.assertEqual(posted.counter_total("a.c"), 100)
        self.assertEqual(posted.counter_total("b.c"), 0)
        self.assertEqual(stats["samples_dropped_on_stop"], 40 * 3)

    def test_flag_off_drops_the_open_bucket_only(self):
        r = self.start(flag=False, unixgram=False, stream=False)
        wait_for_quiet_bucket_phase()
        start = bucket(time.time())
        for _ in range(20):
            r.send_udp("o.c:1|c\no.h:1|h")
        r.wait_read()
        code, stats, err = r.stop()
        self.assertEqual(code, 0, err)
        self.assertEqual(bucket(time.time()), start, "the stop must fall in the open bucket")
        posted = r.intake.decoded()
        self.assertEqual(posted.points("o.c"), [])
        self.assertEqual(posted.points("o.h.count"), [])
        self.assertEqual(stats["samples_dropped_open_bucket"], 40)

    def test_a_stop_right_after_readiness_is_handled(self):
        # A harness sends SIGTERM as soon as the socket is bound: the handler must already be
        # in place (it once was installed after the bind, and such a stop killed the server).
        for _ in range(3):
            r = self.start(flag=True, unixgram=False, stream=False)
            r.send_udp("ready.c:1|c")
            code, stats, err = r.stop()
            self.assertEqual(code, 0, err)
            self.assertEqual(r.intake.decoded().counter_total("ready.c"), 1)

    def test_a_configuration_without_listener_is_refused(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DD_")}
        env.update({"DD_DD_URL": "http://127.0.0.1:9", "DD_API_KEY": "k"})
        proc = subprocess.run([sys.executable, str(SERVER)], env=env, capture_output=True,
                              timeout=DEADLINE_S)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"no listener", proc.stderr)

    def test_an_unreachable_intake_is_an_exit_failure(self):
        r = self.start(flag=True, unixgram=False, stream=False,
                       extra_env={"DD_DD_URL": "http://127.0.0.1:1"})
        r.send_udp("x.c:1|c")
        code, stats, err = r.stop()
        self.assertEqual(code, 1, err)
        self.assertGreaterEqual(stats["posts_failed"], 1)


# --------------------------------------------------------------------------------------------
# Units: parsing, aggregation, the sketch mapping


class Units(unittest.TestCase):
    def test_metric_lines(self):
        samples = ds.parse_metric("m:1:2::3|h|@0.5|#b,a,host:h2,b|c:cid|T5", "h")
        self.assertEqual([s.value for s in samples], [1, 2, 3])
        self.assertEqual(samples[0].tags, ("a", "b"))
        self.assertEqual(samples[0].host, "h2")
        self.assertEqual(samples[0].rate, 0.5)
        self.assertEqual(samples[0].timestamp, 5)
        self.assertEqual(ds.parse_metric("u:a:b|s", "h")[0].value, "a:b")
        for line, reason in [("m:1", "missing_type"), (":1|c", "empty_name"),
                             ("m|c", "missing_value"), ("m:1|x", "unknown_type"),
                             ("m:z|c", "invalid_value"), ("m:1|c|@x", "bad_sample_rate"),
                             ("m:1|g|T0", "bad_timestamp"), ("m:nan|g|T5", "invalid_value")]:
            with self.assertRaises(ds.Reject) as caught:
                ds.parse_metric(line, "h")
            self.assertEqual(str(caught.exception), reason, line)

    def test_events_and_service_checks(self):
        e = ds.parse_event("_e{2,3}:ti|txt|d:9|h:eh|k:key|p:low|s:src|t:error|#x,y", "h")
        self.assertEqual((e.title, e.text, e.timestamp, e.host, e.aggregation_key, e.priority,
                          e.source_type_name, e.alert_type, e.tags),
                         ("ti", "txt", 9, "eh", "key", "low", "src", "error", ["x", "y"]))
        with self.assertRaises(ds.Reject):
            ds.parse_event("_e{9,3}:ti|txt", "h")
        c = ds.parse_service_check("_sc|name|3|h:ch|#t|m:a|b", "h")
        self.assertEqual((c.name, c.status, c.host, c.tags, c.message),
                         ("name", 3, "ch", ["t"], "a|b"))
        with self.assertRaises(ds.Reject):
            ds.parse_service_check("_sc|name|4", "h")

    def test_histogram_weights_are_truncated_and_ranks_weighted(self):
        h = ds.Histogram()
        for v in range(100, 0, -1):
            h.insert(float(v), 1.0)
        cfg = ds.Config.from_env({"DD_DD_URL": "http://x", "DD_API_KEY": "k",
                                  "DD_DOGSTATSD_SOCKET": "/tmp/x"}, [])
        values = {s: v for s, _, v in ds.histogram_values(h, cfg)}
        self.assertEqual(values, {".max": 100, ".median": 50, ".avg": 50.5, ".count": 10,
                                  ".95percentile": 95})
        h = ds.Histogram()
        h.insert(1.0, 0.3)  # int(1 / 0.3) = 3
        self.assertEqual(h.count, 3)
        self.assertAlmostEqual(h.sum, 1 / 0.3)

    def test_counter_and_distribution_weights(self):
        stats = ds.Counter()
        cfg = ds.Config.from_env({"DD_DD_URL": "http://x", "DD_API_KEY": "k",
                                  "DD_DOGSTATSD_SOCKET": "/tmp/x"}, [])
        agg = ds.Aggregator(cfg, stats)
        for s in ds.parse_metric("c:2|c|@0.25", "h") + ds.parse_metric("d:4:8|d|@0.3", "h"):
            agg.add(s, now=1005)
        flush = agg.take(now=1005, everything=True)
        series = ds.build_series(flush, cfg)
        self.assertEqual([(s.metric, s.points[0].timestamp, s.points[0].value) for s in series],
                         [("c", 1000, 0.8)])
        (sketch,) = ds.build_sketches(flush)
        (d,) = sketch.dogsketches
        self.assertEqual((d.cnt, d.min, d.max), (6, 4, 8))
        self.assertAlmostEqual(d.sum, 12 / 0.3)
        self.assertEqual(sum(d.n), 6)

    def test_sketch_keys_follow_the_agent_mapping(self):
        self.assertEqual(ds.sketch_key(0.0), 0)
        self.assertEqual(ds.sketch_key(ds.SKETCH_NORM_MIN), 1)
        self.assertEqual(ds.sketch_key(math.nextafter(ds.SKETCH_NORM_MIN, 0)), 0)
        self.assertEqual(ds.sketch_key(ds.SKETCH_NORM_MIN * ds.SKETCH_GAMMA), 2)
        self.assertEqual(ds.sketch_key(1.0), ds.SKETCH_BIAS)
        self.assertEqual(ds.sketch_key(-1.0), -ds.SKETCH_BIAS)
        self.assertEqual(ds.sketch_key(math.inf), ds.SKETCH_INF_KEY)
        # Relative error of the key's lower bound stays within the agent's 1 %.
        for v in (1e-6, 0.5, 1.0, 3.7, 1234.5, 1e12):
            low = ds.SKETCH_GAMMA ** (ds.sketch_key(v) - ds.SKETCH_BIAS)
            self.assertLess(abs(low - v) / v, 0.01, v)
        self.assertEqual(ds.sketch_bins({5: 70000, 3: 2}), ([3, 5, 5], [2, 4465, 65535]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
