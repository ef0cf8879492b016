"""Real protocol peers for tests/sensor/test_real_clients.py: the standard library's own clients
(http.client, smtplib, ftplib, poplib, imaplib, ssl, email) and curl talking to small servers
(an HTTP/2 one made with h2), so that
the bytes on the wire are what those implementations and the Linux stack send, not frames
written by hand.

    python real_peers.py serve IDS.json CERT.pem KEY.pem    # in the server's namespace
    python real_peers.py talk HOST HOST6 IDS.json FLOWS.json   # in the client's namespace

IDS.json maps each scenario to the synthetic identifier its server or client carries;
`talk` writes FLOWS.json: scenario -> the client's TCP or UDP port, to find its flow.
"""
from __future__ import annotations

import gzip
import http.client
import http.server
import json
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from email.message import EmailMessage

PASSWORDS = {"smtp": "Mail#Pass1", "ftp": "Ftp#Pass2", "pop3": "Pop#Pass3",
             "imap": "Imap#Pass4", "redis": "Redis#Pas5", "http_form": "Form#Pass6",
             "h2c_basic": "H2c#Pass7", "socks5": "Socks#Pass8"}
USERS = {"smtp": "clerk@hosp.example", "ftp": "ftpuser", "pop3": "popuser",
         "imap": "imapuser", "http_form": "zhangsan", "h2c_basic": "lisi", "socks5": "wangwu"}
SYSLOG_PORT, TLS_PORT, REDIS_PORT, H2C_PORT, SOCKS_PORT = 514, 443, 6379, 8080, 1080
FRAGMENT_DATA = 1472   # UDP data in the first fragment of a datagram at MTU 1500
FRAGMENT_DATA6 = 1440  # the same over IPv6: 1500 - 40 - 8 (fragment header) - 8 (UDP), in 8s


def record(ident: str) -> bytes:
    return json.dumps({"code": 0, "data": [{"psn_name": "张三", "certno": ident,
                                            "insutype": "310"}]}, ensure_ascii=False).encode()


def spreadsheet(ident: str) -> bytes:
    """An .xlsx of a day's patients (openpyxl, as HIS exports make them): one row holds the
    identifier, as text."""
    import io

    import openpyxl
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号", "科室"])
    sheet.append(["张三", ident, "内科"])
    for k in range(40):
        sheet.append([f"复诊{k}", "", "外科"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def chunked(body: bytes, size: int) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
             for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def mail(ident: str, cte: str) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "his@hosp.example", "desk@ybj.example", "名单"
    if cte == "base64":      # a GBK spreadsheet attached, as a hospital clerk's mailer sends it
        m.set_content("见附件")
        m.add_attachment(("姓名,身份证号\n张三," + ident + "\n").encode("gbk"),
                         maintype="text", subtype="csv", filename="list.csv")
    else:
        m.set_content("患者身份证号：" + ident + "，请核对。" + "说明" * 40,
                      charset="utf-8", cte="quoted-printable")
    return m


# ---- servers ---------------------------------------------------------------------------

def serve(ids: dict, cert: str, key: str) -> None:
    class Web(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            name = self.path.strip("/")
            ident = ids.get(name)
            head = {"Content-Type": "application/json;charset=UTF-8"}
            if ident is None:
                body = b'{"code":0}'
            elif name in ("http_gzip", "http_gzip6"):
                body, head["Content-Encoding"] = gzip.compress(record(ident)), "gzip"
            elif name == "http_xlsx":  # an export downloaded as a file
                body = spreadsheet(ident)
                head["Content-Type"] = ("application/vnd.openxmlformats-officedocument."
                                        "spreadsheetml.sheet")
                head["Content-Disposition"] = 'attachment; filename="patients.xlsx"'
            elif name == "http_utf16":
                body = record(ident).decode().encode("utf-16")
                head["Content-Type"] = "application/json; charset=utf-16"
            elif name == "http_big":   # the identifier at the end of a 300 KB answer
                rows = [{"memo": f"visit {i} ok", "n": i} for i in range(12000)]
                body = json.dumps(rows + [{"memo": "身份证 " + ident}],
                                  ensure_ascii=False).encode()
            else:                      # chunked, gzip inside chunks as nginx sends it
                body = record(ident)
                if name == "http_gzip_chunked":
                    body, head["Content-Encoding"] = gzip.compress(body), "gzip"
                head["Transfer-Encoding"] = "chunked"
                body = chunked(body, 7 if name == "http_chunked" else 50)
            self.send_response(200)
            for k, v in head.items():
                self.send_header(k, v)
            if "Transfer-Encoding" not in head:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    class Server(socketserver.ThreadingTCPServer):
        # one socket for both families (IPV6_V6ONLY off): IPv4 peers come as ::ffff:a.b.c.d
        address_family = socket.AF_INET6
        allow_reuse_address = daemon_threads = True

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    def start(port, handler):
        threading.Thread(target=Server(("::", port), handler).serve_forever,
                         daemon=True).start()

    def lines(port: int, greeting: bytes, answer):
        """A line protocol: `answer(state, line)` gives the reply, or (reply,) to close."""
        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(greeting)
                state = {}
                while line := self.rfile.readline():
                    if state.get("data"):
                        if line == b".\r\n":
                            state["data"] = False
                            self.wfile.write(b"250 queued\r\n")
                        continue
                    reply = answer(state, line)
                    if isinstance(reply, tuple):
                        self.wfile.write(reply[0])
                        return
                    self.wfile.write(reply)
        start(port, Handler)

    def smtp(state, line):
        verb = line.split()[0].upper() if line.split() else b""
        if state.get("auth"):
            state["auth"] -= 1
            return b"334 UGFzc3dvcmQ6\r\n" if state["auth"] else b"235 2.7.0 ok\r\n"
        if verb == b"EHLO":
            return b"250-ybj.example\r\n250-AUTH LOGIN\r\n250 8BITMIME\r\n"
        if verb == b"AUTH":   # smtplib sends the user with AUTH LOGIN; the password follows
            state["auth"] = 1 if len(line.split()) > 2 else 2
            return b"334 UGFzc3dvcmQ6\r\n" if state["auth"] == 1 else b"334 VXNlcm5hbWU6\r\n"
        if verb == b"DATA":
            state["data"] = True
            return b"354 go on\r\n"
        return (b"221 bye\r\n",) if verb == b"QUIT" else b"250 ok\r\n"

    def ftp(state, line):
        verb = line.split()[0].upper()
        if verb == b"QUIT":
            return (b"221 bye\r\n",)
        return {b"USER": b"331 password please\r\n", b"PASS": b"230 logged in\r\n"}.get(
            verb, b"200 ok\r\n")

    def pop3(state, line):
        verb = line.split()[0].upper()
        if verb == b"QUIT":
            return (b"+OK bye\r\n",)
        if verb == b"RETR":
            text = mail(ids["pop3"], "quoted-printable").as_bytes()
            return b"+OK\r\n" + text.replace(b"\n", b"\r\n") + b"\r\n.\r\n"
        return b"+OK\r\n"

    def imap(state, line):
        tag, verb = (line.split() + [b""])[:2]
        if verb.upper() == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
        if verb.upper() == b"LOGOUT":
            return (b"* BYE\r\n" + tag + b" OK done\r\n",)
        return tag + b" OK done\r\n"

    def redis(state, line):
        """RESP: `*N` then N bulk strings (`$len`, the bytes); one reply per command."""
        if line.startswith(b"*"):
            state["args"] = int(line[1:])
        elif not line.startswith(b"$"):
            state["args"] -= 1
        return b"+OK\r\n" if state["args"] == 0 else b""

    class Tls(socketserver.BaseRequestHandler):
        def handle(self):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            with context.wrap_socket(self.request, server_side=True) as tls:
                tls.recv(4096)
                tls.sendall(record(ids["tls"]))

    class H2c(socketserver.BaseRequestHandler):
        """Cleartext HTTP/2 as h2 (the HTTP/2 of httpx) serves it: with prior knowledge,
        or after an HTTP/1.1 request that asks to `Upgrade: h2c` (answered on stream 1).
        A path named after a scenario is answered with its record, gzip-compressed."""

        def handle(self):
            from h2.config import H2Configuration
            from h2.connection import H2Connection
            from h2.events import RequestReceived, StreamEnded

            conn = H2Connection(H2Configuration(client_side=False))
            first = self.request.recv(65535)
            paths = {}
            if first.startswith(b"PRI * HTTP/2.0"):
                conn.initiate_connection()
                events = conn.receive_data(first)
            else:               # an upgrade: its request is stream 1's
                head = first.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                fields = dict(line.split(": ", 1) for line in head[1:])
                self.request.sendall(b"HTTP/1.1 101 Switching Protocols\r\n"
                                     b"Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
                conn.initiate_upgrade_connection(fields["HTTP2-Settings"].encode())
                paths[1] = head[0].split()[1]
                events = [StreamEnded(stream_id=1)]
            while True:
                for event in events:
                    if isinstance(event, RequestReceived):
                        paths[event.stream_id] = dict(event.headers)[b":path"].decode()
                    elif isinstance(event, StreamEnded):
                        name = paths.pop(event.stream_id).strip("/").split("?")[0]
                        ident = ids.get(name)
                        body = gzip.compress(record(ident)) if ident else b'{"code":0}'
                        conn.send_headers(event.stream_id, [
                            (":status", "200"), ("content-type", "application/json"),
                            *([("content-encoding", "gzip")] if ident else [])])
                        conn.send_data(event.stream_id, body, end_stream=True)
                self.request.sendall(conn.data_to_send())
                data = self.request.recv(65535)
                if not data:
                    return
                events = conn.receive_data(data)

    class Socks(socketserver.StreamRequestHandler):
        """A SOCKS5 proxy that asks for a user and a password (RFC 1928, 1929), then relays
        the CONNECT it is asked for."""

        def handle(self):
            greeting = self.rfile.read(2)
            self.rfile.read(greeting[1])
            self.wfile.write(b"\x05\x02")
            _, ulen = self.rfile.read(2)
            self.rfile.read(ulen)
            self.rfile.read(self.rfile.read(1)[0])
            self.wfile.write(b"\x01\x00")
            head = self.rfile.read(4)           # 05 01 00 ATYP
            size = {1: 4, 4: 16}.get(head[3]) or self.rfile.read(1)[0]
            host = self.rfile.read(size)
            port = int.from_bytes(self.rfile.read(2), "big")
            target = socket.create_connection((socket.inet_ntop(
                socket.AF_INET if len(host) == 4 else socket.AF_INET6, host)
                if head[3] in (1, 4) else host.decode(), port), timeout=10)
            self.wfile.write(b"\x05\x00\x00\x01" + bytes(6))
            self.wfile.flush()
            threading.Thread(target=lambda: [target.sendall(d) for d in
                                             iter(lambda: self.request.recv(65535), b"")],
                             daemon=True).start()
            for data in iter(lambda: target.recv(65535), b""):
                self.request.sendall(data)

    start(80, Web)
    start(H2C_PORT, H2c)
    start(SOCKS_PORT, Socks)
    start(TLS_PORT, Tls)
    lines(25, b"220 ybj.example ESMTP\r\n", smtp)
    lines(21, b"220 ftp ready\r\n", ftp)
    lines(110, b"+OK pop3 ready\r\n", pop3)
    lines(143, b"* OK imap ready\r\n", imap)
    lines(REDIS_PORT, b"", redis)
    sink = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sink.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sink.bind(("::", SYSLOG_PORT))
    threading.Thread(target=lambda: [sink.recv(65535) for _ in iter(int, 1)],
                     daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


# ---- clients ---------------------------------------------------------------------------

def talk(host: str, host6: str, ids: dict) -> dict[str, int]:
    ports = {}

    def port_of(sock) -> int:
        return sock.getsockname()[1]

    for name in ("http_gzip", "http_chunked", "http_gzip_chunked", "http_utf16", "http_big",
                 "http_xlsx"):
        web = http.client.HTTPConnection(host, 80, timeout=10)
        # two answers without personal data first: the third is read on a kept-alive flow
        for path in ("/status", "/menu", f"/{name}"):
            web.request("GET", path, headers={"Accept-Encoding": "gzip"})
            web.getresponse().read()
        ports[name] = port_of(web.sock)
        web.close()

    # curl (libcurl's HTTP/2 is nghttp2's: its own HPACK coder, Huffman values, its table)
    # over cleartext HTTP/2: with prior knowledge, an identifier in the query string; with
    # an upgrade from HTTP/1.1 (curl's `--http2` on an http:// URL), in the gzip answer
    for name, how, path in (("h2c_query", "--http2-prior-knowledge",
                             f"/patient?certno={ids.get('h2c_query')}"),
                            ("h2c_upgrade", "--http2", "/h2c_upgrade")):
        done = subprocess.run(["curl", "-s", how, "--compressed", "-o", "/dev/null",
                               "-w", "%{local_port} %{http_version}",
                               f"http://{host}:{H2C_PORT}{path}"],
                              capture_output=True, text=True, timeout=10, check=True)
        port, version = done.stdout.split()
        assert version == "2", (name, done.stdout)      # it did speak HTTP/2
        ports[name] = int(port)
    # a Basic login over it (curl -u): its `authorization` Huffman-coded
    done = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                           "%{local_port}", "-u", f"{USERS['h2c_basic']}:{PASSWORDS['h2c_basic']}",
                           f"http://{host}:{H2C_PORT}/menu"],
                          capture_output=True, text=True, timeout=10, check=True)
    ports["h2c_basic"] = int(done.stdout)
    # a page fetched through a SOCKS5 proxy that wants a password (curl -x socks5://)
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{local_port}", "-x",
                           f"socks5://{USERS['socks5']}:{PASSWORDS['socks5'].replace('#', '%23')}"
                           f"@{host}:{SOCKS_PORT}", f"http://{host}/menu"],
                          capture_output=True, text=True, timeout=10, check=True)
    ports["socks5"] = int(done.stdout)

    web = http.client.HTTPConnection(host, 80, timeout=10)
    form = (f"username={USERS['http_form']}&password={PASSWORDS['http_form'].replace('#', '%23')}"
            f"&idcard={ids['http_form']}")
    web.request("POST", "/login", body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    web.getresponse().read()
    ports["http_form"] = port_of(web.sock)
    web.close()

    import smtplib
    with smtplib.SMTP(host, 25, timeout=10) as s:
        ports["smtp"] = port_of(s.sock)
        s.login(USERS["smtp"], PASSWORDS["smtp"])
        s.send_message(mail(ids["smtp"], "base64"))

    import ftplib
    f = ftplib.FTP(timeout=10)
    f.connect(host, 21)
    ports["ftp"] = port_of(f.sock)
    f.login(USERS["ftp"], PASSWORDS["ftp"])
    f.quit()

    import poplib
    p = poplib.POP3(host, 110, timeout=10)
    ports["pop3"] = port_of(p.sock)
    p.user(USERS["pop3"])
    p.pass_(PASSWORDS["pop3"])
    p.retr(1)
    p.quit()

    import imaplib
    i = imaplib.IMAP4(host, 143, timeout=10)
    ports["imap"] = port_of(i.sock)
    i.login(USERS["imap"], PASSWORDS["imap"])
    i.logout()

    with socket.create_connection((host, REDIS_PORT), timeout=10) as r:
        ports["redis"] = port_of(r)
        password = PASSWORDS["redis"].encode()
        r.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password))
        r.recv(100)

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, TLS_PORT), timeout=10) as raw:
        ports["tls"] = port_of(raw)
        with context.wrap_socket(raw, server_hostname="his.ybj.jl.gov.cn") as tls:
            tls.sendall(b"GET /?idcard=" + ids["tls"].encode() + b" HTTP/1.1\r\n\r\n")
            tls.recv(4096)

    # a syslog message bigger than the MTU: the kernel fragments it, the identifier
    # across the end of the first fragment (IPv4: 1 472 bytes of UDP data in it; IPv6, with
    # its fragment header: 1 440)
    for name, family, to, first in (("syslog", socket.AF_INET, host, FRAGMENT_DATA),
                                    ("syslog6", socket.AF_INET6, host6, FRAGMENT_DATA6)):
        with socket.socket(family, socket.SOCK_DGRAM) as u:
            u.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            head = b"<134>1 2026-12-07T06:00:00Z his emr - - - "
            filler = b"x" * (first - 9 - len(head) - len(b" patient "))
            u.sendto(head + filler + b" patient " + ids[name].encode() + b" discharged" +
                     b" ." * 400, (to, SYSLOG_PORT))
            ports[name] = port_of(u)

    web = http.client.HTTPConnection(host6, 80, timeout=10)
    web.request("GET", "/http_gzip6", headers={"Accept-Encoding": "gzip"})
    web.getresponse().read()
    ports["http_gzip6"] = port_of(web.sock)
    web.close()
    return ports


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(json.loads(open(sys.argv[2]).read()), sys.argv[3], sys.argv[4])
    else:
        flows = talk(sys.argv[2], sys.argv[3], json.loads(open(sys.argv[4]).read()))
        with open(sys.argv[5], "w") as fh:
            json.dump(flows, fh)
