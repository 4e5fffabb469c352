#!/usr/bin/env python3
"""What a page design of rmalloc (issue 16) could reach on a trace, at best.

Blocks of up to 512 bytes go in 4 KiB pages of their 16-byte size class,
packed as tightly as compaction ever could (each class in as few pages as
hold its blocks); larger blocks lie end to end, rounded up to 16; every
block has a handle of HANDLE bytes and nothing else.  The footprint so
counted, over the peak of live bytes, at that peak, is printed beside the
floor (every live block rounded up to 16).

Usage: trace2cmt -s -q -o - TRACE.cmt | bench/page_design.py [HANDLE]
"""
import collections
import re
import sys

PAGE, SMALL = 4096, 512
handle = int(sys.argv[1]) if len(sys.argv) > 1 else 5
made = re.compile(r'(\w+)\(([^)]*)\) = 0<(\d+)>')
freed = re.compile(r'free\(0<(\d+)>\)')
live, sizes = {}, collections.Counter()
now = peak = 0
at_peak = None


def make(tag, size):
    global now
    live[tag] = size
    sizes[size] += 1
    now += size


def drop(tag):
    global now
    size = live.pop(tag, None)
    if size is not None:
        sizes[size] -= 1
        now -= size


for line in sys.stdin:
    m = made.match(line)
    if m:
        call, args = m.group(1), [a for a in m.group(2).split(', ')]
        if call == 'realloc':
            old = re.match(r'0<(\d+)>', args[0])
            if old:
                drop(old.group(1))
        numbers = [int(a) for a in args if re.fullmatch(r'\d+', a)]
        make(m.group(3), numbers[0] * numbers[1] if call == 'calloc' else numbers[-1])
    else:
        m = freed.match(line)
        if not m:
            continue
        drop(m.group(1))
    if now > peak:
        peak, at_peak = now, +sizes

blocks = sum(at_peak.values())
classes, large, floor = collections.Counter(), 0, 0
for size, count in at_peak.items():
    rounded = max(16, (size + 15) // 16 * 16)
    floor += rounded * count
    if rounded <= SMALL:
        classes[rounded] += count
    else:
        large += rounded * count
pages = sum(-(-count // (PAGE // rounded)) * PAGE for rounded, count in classes.items())
print('peak live %d bytes in %d blocks: floor %.3f, page design %.3f (pages %.3f, large blocks %.3f, %d-byte handles %.3f)'
      % (peak, blocks, floor / peak, (pages + large + handle * blocks) / peak, pages / peak, large / peak, handle,
         handle * blocks / peak))
