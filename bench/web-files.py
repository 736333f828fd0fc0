#!/usr/bin/env python3
# Latency of the web app's files and of /status, the dashboard's one call a
# second: 1000 GETs per row over one keep-alive connection to a running
# `facerec serve`. Usage: bench/web-files.py PORT API_KEY
import http.client, sys, time, statistics
port, key = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection('127.0.0.1', port)
def run(path, headers):
    ts = []; n = 0
    for i in range(1000):
        t = time.perf_counter()
        c.request('GET', path, headers=headers)
        r = c.getresponse(); b = r.read(); n = len(b)
        ts.append(time.perf_counter() - t)
        if r.getheader('Connection') == 'close':
            c.close(); c.connect()
    ts.sort()
    return r.status, n, statistics.median(ts) * 1e6, ts[900] * 1e6
c.request('GET', '/app.js'); r = c.getresponse(); r.read(); etag = r.getheader('ETag')
for path, h in [('/', {}), ('/vendor/uPlot.iife.min.js', {}),                 ('/app.js', {'If-None-Match': etag}), ('/status', {'X-API-Key': key})]:
    h = {k: v for k, v in h.items() if v}
    print(path, h.keys() and list(h.keys())[0] or '', '%d %d B median %.0f us p90 %.0f us' % run(path, h))
