#!/usr/bin/env python3
"""make-reordered.py OUT.pcap [eth|sll|raw] — a hand-made capture for "mxlab import"
(harness/tests/pcap-import.sh): SMTP sessions on loopback whose TCP
segments come out of order, retransmitted and overlapping, with sequence
numbers that wrap past 2^32, a STARTTLS session, a connection begun
before the capture, one to another port that the server closes, and one
with a segment the capture lost; framed as Ethernet (the default), Linux
cooked (tcpdump -i any) or raw IP. Standard library only (struct);
deterministic: the same bytes every time."""
import struct
import sys

SERVER = ("127.0.0.1", 25)
LINKS = {"eth": 1, "sll": 113, "raw": 101}  # pcap LINKTYPE_ values
link = sys.argv[2] if len(sys.argv) > 2 else "eth"
packets = []  # (ts, frame)
clock = [1700000000.0]


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def frame(src, dst, seq, ack, flags, data=b""):
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF,
                      ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(data), 0,
                     0x4000, 64, 6, 0, ip4(src[0]), ip4(dst[0]))
    if link == "sll":  # packet type, ARPHRD, address length and address
        head = struct.pack("!HHH8sH", 0, 772, 6, b"", 0x0800)
    elif link == "raw":
        head = b""
    else:
        head = b"\0" * 12 + struct.pack("!H", 0x0800)
    return head + ip + tcp + data


def put(f):
    clock[0] += 0.001
    packets.append((clock[0], f))


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Conn:
    """One connection: seq[0] the client's next sequence number, seq[1]
    the server's; segments are made first, put in any order."""

    def __init__(self, client, server, isn_c, isn_s, handshake=True):
        self.ep = (client, server)
        self.seq = [isn_c, isn_s]
        if handshake:
            put(frame(client, server, isn_c, 0, SYN))
            put(frame(server, client, isn_s, isn_c + 1, SYN | ACK))
            put(frame(client, server, isn_c + 1, isn_s + 1, ACK))
        self.seq = [isn_c + 1, isn_s + 1]

    def seg(self, d, data, flags=PSH | ACK):
        """The next segment of direction d (0 client, 1 server)."""
        f = frame(self.ep[d], self.ep[1 - d], self.seq[d], self.seq[1 - d],
                  flags, data)
        self.seq[d] += len(data) + (1 if flags & FIN else 0)
        return f

    def send(self, d, data):
        put(self.seg(d, data))

    def close(self):
        put(self.seg(0, b"", FIN | ACK))
        put(self.seg(1, b"", FIN | ACK))
        put(frame(self.ep[0], self.ep[1], self.seq[0], self.seq[1], ACK))


def session_reordered():
    # The client's sequence numbers wrap past 2^32 within the session.
    c = Conn(("127.3.3.3", 40001), SERVER, 0xFFFFFF80, 1000)
    c.send(1, b"220 mx.example.org ESMTP\r\n")
    a, b = c.seg(0, b"EHLO cli"), c.seg(0, b"ent.example.net\r\n")
    put(b)  # out of order
    put(a)
    a = c.seg(1, b"250-mx.exa")
    b = c.seg(1, b"mple.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
    put(a)
    put(b)
    put(a)  # a retransmission of what was delivered
    # Pipelined; the second segment is sent again, overlapping the third.
    s0 = c.seq[0]
    put(c.seg(0, b"MAIL FROM:<a@example.net>\r\n"))
    s1 = c.seq[0]
    rcpt = b"RCPT TO:<b@example.org>\r\n"
    put(c.seg(0, rcpt))
    put(frame(c.ep[0], c.ep[1], s1 + 5, c.seq[1], PSH | ACK,
              rcpt[5:] + b"DATA\r\n"))
    c.seq[0] = s1 + len(rcpt) + len(b"DATA\r\n")
    assert s0 != s1
    c.send(1, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
              b"354 End data with <CR><LF>.<CR><LF>\r\n")
    x = c.seg(0, b"Subject: stars * and ? marks\r\n\r\n")
    y = c.seg(0, b"..a dot-stuffed line\r\n {braces} and a tab\t\r\n")
    z = c.seg(0, b".\r\n")
    put(z)
    put(x)
    put(x)
    put(y)
    c.send(1, b"250 2.0.0 Ok: queued as 3F1A2B4C5D\r\n")
    c.send(0, b"QUIT\r\n")
    c.send(1, b"221 2.0.0 Bye\r\n")
    c.close()


def session_starttls():
    c = Conn(("127.3.3.4", 40002), SERVER, 5000, 9000)
    c.send(1, b"220 mx.example.org ESMTP\r\n")
    c.send(0, b"EHLO tls.example.net\r\n")
    c.send(1, b"250-mx.example.org\r\n250 STARTTLS\r\n")
    c.send(0, b"STARTTLS\r\n")
    c.send(1, b"220 2.0.0 Ready to start TLS\r\n")
    c.send(0, b"\x16\x03\x01\x00\x05hello")
    c.send(1, b"\x16\x03\x03\x00\x03abc")
    c.close()


def session_before_capture():
    c = Conn(("127.3.3.6", 40003), SERVER, 7000, 8000, handshake=False)
    c.send(0, b"NOOP\r\n")
    c.send(1, b"250 2.0.0 Ok\r\n")


def session_other_port():
    c = Conn(("127.3.3.5", 40004), ("127.0.0.1", 587), 100, 200)
    c.send(1, b"421 4.7.0 mx.example.org Error: too many connections\r\n")
    put(c.seg(1, b"", FIN | ACK))
    put(c.seg(0, b"", FIN | ACK))


def session_lost_segment():
    c = Conn(("127.3.3.7", 40005), SERVER, 300, 400)
    c.send(1, b"220 mx.example.org ESMTP\r\n")
    c.send(0, b"HELO lossy.example.net\r\n")
    c.send(1, b"250 mx.example.org\r\n")
    c.seg(0, b"MAIL FROM:<lost@example.net>\r\n")  # never captured
    c.send(0, b"RCPT TO:<b@example.org>\r\n")
    c.close()


def main():
    session_reordered()
    session_starttls()
    session_before_capture()
    session_other_port()
    session_lost_segment()
    with open(sys.argv[1], "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                              LINKS[link]))
        for ts, f in packets:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            out.write(struct.pack("<IIII", sec, usec, len(f), len(f)) + f)


if __name__ == "__main__":
    main()
