# SPDX-License-Identifier: MIT
"""Baseline for the sync benchmark: the requests a sync must make, done by
a minimal keep-alive client (Python's http.client), with no catalog: list
every kind page by page, then for each completed item resolve its media
and fetch the object's last 32 bytes (a transcript's sentences and each
of its operator results, as twiliofs probes them). Reads the test
account's env.sh variables from the environment. Prints the number of
objects probed."""
import base64
import http.client
import json
import os
import ssl
import sys
import urllib.parse

ctx = ssl.create_default_context(cafile=os.environ["TWILIOFS_CAFILE"])
auth = "Basic " + base64.b64encode(("%s:%s" % (
    os.environ["TWILIO_API_KEY"], os.environ["TWILIO_API_SECRET"])).encode()).decode()
base = os.environ["TWILIOFS_ENDPOINT"]
acct = os.environ["TWILIO_ACCOUNT_SID"]
conns = {}


def get(url, headers):
    u = urllib.parse.urlsplit(url)
    c = conns.get(u.netloc)
    if c is None:
        c = conns[u.netloc] = http.client.HTTPSConnection(u.netloc, context=ctx)
    c.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers)
    r = c.getresponse()
    return r.status, r.read(), r.getheader("Location")


def api(url):
    return get(url, {"Authorization": auth, "Accept": "application/json"})


def listing(url, key, rel_base):
    while url:
        status, body, _ = api(url)
        page = json.loads(body)
        for rec in page[key]:
            yield rec
        nxt = page.get("meta", {}).get("next_page_url") or page.get("next_page_uri")
        url = (rel_base + nxt) if nxt and nxt.startswith("/") else nxt


def main():
    lists = [
        (base + "/video/v1/Recordings?PageSize=100", "recordings", "/Media?Ttl=600"),
        (base + "/video/v1/Compositions?PageSize=100", "compositions", "/Media?Ttl=600"),
        (base + "/api/2010-04-01/Accounts/%s/Recordings.json?PageSize=1000" % acct, "recordings", None),
        (base + "/intelligence/v2/Transcripts?PageSize=1000", "transcripts", None),
    ]
    probed = 0
    for url, key, suffix in lists:
        for rec in listing(url, key, base + "/api"):
            if rec.get("status") != "completed":
                continue
            if suffix:
                status, body, _ = api(rec["url"] + suffix)
                target = json.loads(body)["redirect_to"]
            elif key == "recordings":
                status, body, loc = api(base + "/api" + rec["uri"].replace(".json", ".wav"))
                target = loc
            else:
                status, body, _ = api(rec["links"]["encrypted_sentences"])
                target = json.loads(body)["location"]
                status, body, _ = api(rec["links"]["encrypted_operator_results"])
                for part in (json.loads(body).get("locations") or []
                             if status == 200 else []):
                    get(part, {"Range": "bytes=-32"})
                    probed += 1
            status, body, _ = get(target, {"Range": "bytes=-32"})
            probed += 1
    print(probed)


if __name__ == "__main__":
    sys.exit(main())
