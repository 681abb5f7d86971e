"""A WAN delay line for tests (shared/notes/wan.md): reads every IPv4 packet
routed into the TUN device named argv[1], holds it for the delay between its
source and destination regions, and writes it back to the kernel.

Regions are the third octet of 10.9.<region>.<host>; argv[2] is JSON
{"<a>-<b>": one_way_ms} with a <= b. Plain userspace: fine for the few
Mbit/s of test traffic, not for load tests (there is no netem on this kernel).
"""
import fcntl
import heapq
import json
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000

name, delays = sys.argv[1], json.loads(sys.argv[2])
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
os.set_blocking(fd, False)
print("ready", flush=True)

held = []
order = 0
while True:
    timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
    readable, _, _ = select.select([fd], [], [], timeout)
    if readable:
        while True:
            try:
                packet = os.read(fd, 65535)
            except BlockingIOError:
                break
            if len(packet) < 20 or packet[0] >> 4 != 4:
                continue
            a, b = sorted((packet[14], packet[18]))
            due = time.monotonic() + delays.get(f"{a}-{b}", 0) / 1000.0
            heapq.heappush(held, (due, order, packet))
            order += 1
    now = time.monotonic()
    while held and held[0][0] <= now:
        try:
            os.write(fd, heapq.heappop(held)[2])
        except OSError:
            pass
