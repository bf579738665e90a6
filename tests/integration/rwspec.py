"""Prometheus remote write 1.0, written again from the specification for
the tests: a snappy block-format codec, the WriteRequest protobuf both
ways, and a receiver that decodes every request it gets and writes down
every way a request breaks the specification's MUSTs and SHOULDs.

Nothing here comes from the daemon's code, so that the two can check each
other.  Standard library only.

The specification: https://prometheus.io/docs/specs/remote_write_spec/
(version 1.0, April 2023).  What is checked, and where it says so:

- "The following headers MUST be sent with the HTTP request:
  Content-Encoding: snappy, Content-Type: application/x-protobuf,
  User-Agent: <name & version of the sender>,
  X-Prometheus-Remote-Write-Version: 0.1.0"
- "The block format MUST be used - the framed format MUST NOT be used."
- "The remote write request MUST be encoded using Google Protobuf 3"
- Labels: "SHOULD contain a __name__ label", "MUST NOT contain repeated
  label names", "MUST have label names sorted in lexicographical order",
  "MUST NOT contain any empty label names or values"; metric names and
  label names MUST match their regexes; values are UTF-8.
- "Timestamps MUST be int64 counted as milliseconds since the Unix epoch"
  (checked as plausible: between 2001 and 2286).
- "senders MUST send samples for any given series in timestamp order"
- Stale markers: "the special NaN value 0x7ff0000000000002. This value
  MUST NOT be used otherwise."
- Retries: "MUST retry write requests on HTTP 5xx responses and MUST use a
  backoff algorithm", "MUST NOT retry write requests on HTTP 2xx and 4xx
  responses other than 429".
"""

import math
import re
import struct
import threading
import time

from harness import LoopbackServer, QuietHandler

STALE_NAN_BITS = 0x7FF0000000000002
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
FRAMED_SNAPPY = b"\xff\x06\x00\x00sNaPpY"
METRIC_TYPES = {0: "unknown", 1: "counter", 2: "gauge", 3: "histogram",
                4: "gaugehistogram", 5: "summary", 6: "info", 7: "stateset"}


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def from_bits(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def stale_nan():
    return from_bits(STALE_NAN_BITS)


# --- snappy, block format ----------------------------------------------

def _varint(data, i):
    shift = value = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def snappy_decompress(data):
    n, i = _varint(data, 0)
    out = bytearray()
    while i < len(data):
        tag = data[i]
        i += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                length = int.from_bytes(data[i:i + extra], "little")
                i += extra
            length += 1
            if i + length > len(data):
                raise ValueError("literal past the end")
            out += data[i:i + length]
            i += length
            continue
        if kind == 1:
            length = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | data[i]
            i += 1
        elif kind == 2:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[i:i + 2], "little")
            i += 2
        else:
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[i:i + 4], "little")
            i += 4
        if offset == 0 or offset > len(out):
            raise ValueError("copy from before the start")
        for _ in range(length):  # copies may overlap themselves
            out.append(out[-offset])
    if len(out) != n:
        raise ValueError("length %d, header said %d" % (len(out), n))
    return bytes(out)


def snappy_compress(data):
    """Valid snappy: the data as literals, no copies."""
    out = bytearray()
    n = len(data)
    while True:  # the uncompressed length, a varint
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            break
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        m = len(chunk) - 1
        if m < 60:
            out.append(m << 2)
        elif m < 256:
            out += bytes([60 << 2, m])
        else:
            out += bytes([61 << 2]) + m.to_bytes(2, "little")
        out += chunk
    return bytes(out)


# --- protobuf -----------------------------------------------------------

def _fields(data):
    """(field number, wire type, value) of a message; value is an int for
    varints and fixed widths, bytes for length-delimited fields."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ValueError("field number 0")
        if wt == 0:
            v, i = _varint(data, i)
        elif wt == 1:
            if i + 8 > len(data):
                raise ValueError("truncated fixed64")
            v = int.from_bytes(data[i:i + 8], "little")
            i += 8
        elif wt == 2:
            length, i = _varint(data, i)
            if i + length > len(data):
                raise ValueError("length past the end")
            v = data[i:i + length]
            i += length
        elif wt == 5:
            v = int.from_bytes(data[i:i + 4], "little")
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def _int64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


class Series:
    def __init__(self):
        self.labels = []       # [(name, value)] in the order sent
        self.samples = []      # [(ts_ms, value)] in the order sent
        self.histograms = 0
        self.exemplars = 0
        self.errors = []

    def name(self):
        return dict(self.labels).get("__name__")

    def key(self):
        return tuple(sorted(self.labels))


def decode_write_request(raw):
    """(series, metadata): metadata as [(type, family, help, unit)]."""
    series, metadata = [], []
    for num, wt, v in _fields(raw):
        if num == 1 and wt == 2:
            s = Series()
            for n2, w2, v2 in _fields(v):
                if n2 == 1 and w2 == 2:
                    name = value = b""
                    for n3, w3, v3 in _fields(v2):
                        if n3 == 1 and w3 == 2:
                            name = v3
                        elif n3 == 2 and w3 == 2:
                            value = v3
                    try:
                        s.labels.append((name.decode("utf-8"), value.decode("utf-8")))
                    except UnicodeDecodeError:
                        s.errors.append("label not UTF-8: %r=%r" % (name, value))
                elif n2 == 2 and w2 == 2:
                    val, ts = 0.0, 0
                    for n3, w3, v3 in _fields(v2):
                        if n3 == 1 and w3 == 1:
                            val = from_bits(v3)
                        elif n3 == 2 and w3 == 0:
                            ts = _int64(v3)
                    s.samples.append((ts, val))
                elif n2 == 3:
                    s.exemplars += 1
                elif n2 == 4:
                    s.histograms += 1
            series.append(s)
        elif num == 3 and wt == 2:
            kind, family, help_, unit = 0, "", "", ""
            for n2, w2, v2 in _fields(v):
                if n2 == 1 and w2 == 0:
                    kind = v2
                elif n2 == 2 and w2 == 2:
                    family = v2.decode("utf-8")
                elif n2 == 4 and w2 == 2:
                    help_ = v2.decode("utf-8")
                elif n2 == 5 and w2 == 2:
                    unit = v2.decode("utf-8")
            metadata.append((METRIC_TYPES.get(kind, kind), family, help_, unit))
    return series, metadata


def _put_varint(out, v):
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return


def _put_len(out, num, payload):
    _put_varint(out, num << 3 | 2)
    _put_varint(out, len(payload))
    out += payload


def encode_write_request(series, histograms=()):
    """series: [(labels [(name, value)], samples [(ts_ms, value)])];
    histograms: indexes of series that also carry a native histogram."""
    out = bytearray()
    for k, (labels, samples) in enumerate(series):
        ts = bytearray()
        for name, value in labels:
            lb = bytearray()
            _put_len(lb, 1, name.encode())
            _put_len(lb, 2, value.encode())
            _put_len(ts, 1, lb)
        for t, v in samples:
            sb = bytearray()
            _put_varint(sb, 1 << 3 | 1)
            sb += struct.pack("<d", v)
            _put_varint(sb, 2 << 3 | 0)
            _put_varint(sb, t)
            _put_len(ts, 2, sb)
        if k in histograms:
            h = bytearray()
            _put_varint(h, 1 << 3 | 0)  # count_int
            _put_varint(h, 3)
            _put_varint(h, 15 << 3 | 0)  # timestamp
            _put_varint(h, samples[0][0] if samples else 1700000000000)
            _put_len(ts, 4, h)
        _put_len(out, 1, ts)
    return bytes(out)


def body(series, histograms=()):
    return snappy_compress(encode_write_request(series, histograms))


# --- the receiver -------------------------------------------------------

class Request:
    def __init__(self, index, headers, raw_body, t):
        self.index, self.headers, self.raw_body, self.t = index, headers, raw_body, t
        self.series, self.metadata = [], []
        self.status = None
        self.samples = 0

    def sample_set(self):
        return frozenset((s.key(), t, bits(v)) for s in self.series for t, v in s.samples)


class ComplianceReceiver(LoopbackServer):
    """A remote-write receiver on a free loopback port that decodes every
    request and lists in `violations` what breaks the specification.

    `answer(receiver, request)` decides the answer (status, headers, body);
    by default everything is taken (204).  With prometheus=True it answers
    as Prometheus' receiver does: a request is taken whole or refused whole
    (400), refused when a sample is older than the newest its series has,
    or has the same timestamp and another value.  Samples taken are in
    `accepted`: {series key: [(ts, value)]}."""

    def __init__(self, path="/api/v1/write", answer=None, prometheus=False,
                 oldest_ms=None, port=0):
        self.path = path
        self.answer = answer
        self.prometheus = prometheus
        self.oldest_ms = oldest_ms  # refuse older samples ("out of bounds")
        self.requests = []
        self.violations = []
        self.accepted = {}
        self.newest = {}  # series key -> (ts, value bits)
        self.metadata = {}  # family -> (type, help, unit)
        self.since = 0  # requests from here on are checked for retries
        self.lock = threading.Lock()
        receiver = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                headers = dict((k.lower(), v) for k, v in self.headers.items())
                status, extra, answer = receiver._handle(self.path, headers, raw)
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.serve(Handler, port)

    # What the test reads.

    def samples(self):
        """Every sample taken, counted once per (series, timestamp)."""
        with self.lock:
            return sum(len({t for t, _ in v}) for v in self.accepted.values())

    def count(self, status=None):
        with self.lock:
            return sum(1 for r in self.requests if status is None or r.status == status)

    def assert_compliant(self, test):
        test.assertEqual(self.violations, [])

    def new_session(self):
        """Someone fixed the sender and reloaded it: sending again what was
        refused is theirs to decide, not an automatic retry."""
        with self.lock:
            self.since = len(self.requests)

    # Checks.

    def _violate(self, req, what):
        self.violations.append("request %d: %s" % (req.index, what))

    def _check(self, req):
        h = req.headers
        for name, want in (("content-encoding", "snappy"),
                           ("content-type", "application/x-protobuf"),
                           ("x-prometheus-remote-write-version", "0.1.0")):
            if h.get(name) != want:
                self._violate(req, "header %s is %r, MUST be %r" % (name, h.get(name), want))
        if not h.get("user-agent"):
            self._violate(req, "no User-Agent: MUST name the sender and its version")
        if req.raw_body.startswith(FRAMED_SNAPPY):
            self._violate(req, "framed snappy: the block format MUST be used")
            return False
        try:
            raw = snappy_decompress(req.raw_body)
        except (ValueError, IndexError) as e:
            self._violate(req, "not snappy: %s" % e)
            return False
        try:
            req.series, req.metadata = decode_write_request(raw)
        except (ValueError, IndexError, UnicodeDecodeError) as e:
            self._violate(req, "not a WriteRequest: %s" % e)
            return False
        for k, s in enumerate(req.series):
            where = "series %d %s" % (k, s.labels)
            for e in s.errors:
                self._violate(req, "%s: %s" % (where, e))
            names = [n for n, _ in s.labels]
            if names != sorted(names):
                self._violate(req, "%s: label names MUST be sorted" % where)
            if len(set(names)) != len(names):
                self._violate(req, "%s: label names MUST NOT repeat" % where)
            for n, v in s.labels:
                if not n or not v:
                    self._violate(req, "%s: empty label name or value" % where)
                if not LABEL_NAME.match(n):
                    self._violate(req, "%s: label name %r" % (where, n))
                if n.startswith("__") and n != "__name__":
                    self._violate(req, "%s: label %r: __ names are reserved "
                                  "(SHOULD NOT)" % (where, n))
            name = s.name()
            if name is None:
                self._violate(req, "%s: SHOULD contain __name__" % where)
            elif not METRIC_NAME.match(name):
                self._violate(req, "%s: metric name %r" % (where, name))
            if not s.samples:
                self._violate(req, "%s: no samples" % where)
            last = None
            for t, v in s.samples:
                if not 1_000_000_000_000 <= t < 10_000_000_000_000:
                    self._violate(req, "%s: timestamp %d is not milliseconds "
                                  "since the epoch" % (where, t))
                if last is not None and t < last:
                    self._violate(req, "%s: samples MUST be in timestamp order" % where)
                last = t
                if math.isnan(v) and bits(v) != STALE_NAN_BITS and \
                        (bits(v) & 0x000FFFFFFFFFFFFF) == 2:
                    self._violate(req, "%s: a stale marker's bits altered" % where)
            req.samples += len(s.samples)
        for r in self.requests[self.since:-1]:
            if r.status is not None and 400 <= r.status < 500 and r.status != 429 \
                    and r.raw_body == req.raw_body:
                self._violate(req, "the same request again after HTTP %d: "
                              "4xx other than 429 MUST NOT be retried" % r.status)
                break
        for kind, family, help_, unit in req.metadata:
            self.metadata[family] = (kind, help_, unit)
        return True

    def _prometheus_answer(self, req):
        """Taken whole, or refused whole on the first sample Prometheus
        would refuse."""
        for s in req.series:
            key = s.key()
            newest = self.newest.get(key)
            for t, v in s.samples:
                if self.oldest_ms is not None and t < self.oldest_ms:
                    return 400, {}, b"out of bounds\n"
                if newest is not None and (t < newest[0] or
                                           (t == newest[0] and bits(v) != newest[1])):
                    return 400, {}, (b"out of order sample" if t < newest[0]
                                     else b"duplicate sample for timestamp") + b"\n"
                newest = (t, bits(v))
        return None

    def _handle(self, path, headers, raw):
        with self.lock:
            req = Request(len(self.requests), headers, raw, time.monotonic())
            self.requests.append(req)
            if path.partition("?")[0] != self.path:
                req.status = 404
                return 404, {}, b"no such path\n"
            ok = self._check(req)
            answer = None
            if self.answer:
                answer = self.answer(self, req)
            if answer is None and not ok:
                answer = (400, {}, b"cannot decode the request\n")
            if answer is None and self.prometheus:
                answer = self._prometheus_answer(req)
            if answer is None:
                answer = (204, {}, b"")
            req.status = answer[0]
            if 200 <= req.status < 300:
                for s in req.series:
                    key = s.key()
                    self.accepted.setdefault(key, []).extend(s.samples)
                    for t, v in s.samples:
                        cur = self.newest.get(key)
                        if cur is None or t >= cur[0]:
                            self.newest[key] = (t, bits(v))
            return answer
