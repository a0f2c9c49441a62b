#!/usr/bin/env python3
"""End-to-end: `tools/run` reaches READY on a fresh data dir; every hosted
service answers grpc.health.v1 Check with SERVING; reflection lists them;
/metrics shows parley_rpc_requests_total after a call; parleyctl logs in as a
demo person, sees the seeded posts and groups, posts, and asks a question in a
group; SIGTERM stops everything with exit 0.

An independent client (python3-grpcio) speaks raw protobuf bytes, so this
checks the wire, not our own generated code."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
HOSTED = ["parley.identity.v1.IdentityService", "parley.identity.v1.IdentityInternalService",
          "parley.feed.v1.FeedService", "parley.feed.v1.FeedInternalService",
          "parley.notify.v1.NotificationService", "parley.notify.v1.NotificationInternalService"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def string_field(number, text):
    data = text.encode()
    return bytes([(number << 3) | 2, len(data)]) + data


def health(channel, service):
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    reply = check(string_field(1, service), timeout=5)
    return reply  # b"\x08\x01" is SERVING


def reflection_services(channel):
    call = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    replies = list(call(iter([string_field(7, "*")]), timeout=5))  # list_services
    return set(re.findall(rb"[a-z0-9_.]+\.[A-Z][A-Za-z0-9]*", b"".join(replies)))


def main():
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    var = tempfile.mkdtemp(prefix="parley-e2e-")
    env = dict(os.environ, PARLEY_VAR_DIR=var, PARLEY_BUILD_DIR=BUILD,
               PARLEY_GRPC_PORT=str(free_port()), PARLEY_METRICS_PORT=str(free_port()),
               XDG_CONFIG_HOME=os.path.join(var, "config"))
    run = subprocess.Popen([os.path.join(ROOT, "tools/run"), "--fresh"], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                           start_new_session=True)
    try:
        ready = None
        deadline = time.time() + 240
        while time.time() < deadline:
            line = run.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                ready = line.strip()
                break
        check(ready is not None, "tools/run prints READY")
        if ready is None:
            return 1
        m = re.fullmatch(r"READY grpc=(127\.0\.0\.1:\d+) metrics=(http://127\.0\.0\.1:\d+/metrics)", ready)
        check(m is not None, "READY line has exactly the documented form: " + ready)
        grpc_addr, metrics_url = m.group(1), m.group(2)

        channel = grpc.insecure_channel(grpc_addr)
        for name in [""] + HOSTED:
            check(health(channel, name) == b"\x08\x01", "health SERVING for '%s'" % name)
        try:
            health(channel, "parley.nope.v1.Nope")
            check(False, "unknown service is NOT_FOUND")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.NOT_FOUND, "unknown service is NOT_FOUND")

        listed = reflection_services(channel)
        for name in HOSTED:
            check(name.encode() in listed, "reflection lists " + name)

        body = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
        check(re.search(r'parley_rpc_requests_total\{code="OK",method="Check",service="grpc.health.v1.Health"\} \d+', body)
              is not None, "/metrics counts the health calls")

        ctl = [os.path.join(BUILD, "tools/parleyctl"), "--addr=" + grpc_addr]
        login = subprocess.run(ctl + ["login", "ben@acme.example"], env=dict(env, PARLEY_PASSWORD="parley-demo-password"),
                               capture_output=True, text=True, timeout=30)
        check(login.returncode == 0, "parleyctl login as a demo person: " + login.stderr.strip())
        who = subprocess.run(ctl + ["--json", "whoami"], env=env, capture_output=True, text=True, timeout=30)
        check(who.returncode == 0 and '"handle": "ben"' in who.stdout, "parleyctl whoami")
        # Feed: the seeded demo content is there, and a new post reaches the author's home.
        home = subprocess.run(ctl + ["--json", "timeline", "--page_size=5"], env=env,
                              capture_output=True, text=True, timeout=30)
        check(home.returncode == 0 and home.stdout.count('"body"') == 5,
              "parleyctl timeline shows 5 demo posts: " + home.stderr.strip())
        posted = subprocess.run(ctl + ["post", "e2e hello #smoke"], env=env,
                                capture_output=True, text=True, timeout=30)
        check(posted.returncode == 0, "parleyctl post: " + posted.stderr.strip())
        home = subprocess.run(ctl + ["--json", "timeline", "--page_size=1"], env=env,
                              capture_output=True, text=True, timeout=30)
        check(home.returncode == 0 and "e2e hello #smoke" in home.stdout,
              "the new post is first in the author's home timeline")
        # Groups and questions: ben is seeded into two public groups, not the private one.
        groups = subprocess.run(ctl + ["--json", "group", "list"], env=env,
                                capture_output=True, text=True, timeout=30)
        listed = json.loads(groups.stdout).get("groups", []) if groups.returncode == 0 else []
        names = sorted(g.get("name") for g in listed)
        check(names == ["Coffee Lovers", "Kubernetes Guild"],
              "parleyctl group list shows the demo groups: %s %s" % (names, groups.stderr.strip()))
        guild = [g["id"] for g in listed if g.get("name") == "Kubernetes Guild"]
        if guild:
            posted = subprocess.run(ctl + ["ask", "--group=" + guild[0], "e2e question #smoke?"],
                                    env=env, capture_output=True, text=True, timeout=30)
            check(posted.returncode == 0, "parleyctl ask in a group: " + posted.stderr.strip())
            timeline = subprocess.run(ctl + ["--json", "group", "timeline", guild[0]], env=env,
                                      capture_output=True, text=True, timeout=30)
            posts = json.loads(timeline.stdout).get("posts", []) if timeline.returncode == 0 else []
            check(len(posts) > 1 and posts[0].get("body") == "e2e question #smoke?"
                  and posts[0].get("kind") == "POST_KIND_QUESTION",
                  "the question is first on the group's timeline: " + timeline.stderr.strip())
            mine = subprocess.run(ctl + ["--json", "questions"], env=env,
                                  capture_output=True, text=True, timeout=30)
            check(mine.returncode == 0 and "e2e question #smoke?" in mine.stdout,
                  "parleyctl questions lists the open question: " + mine.stderr.strip())
        # Notifications and presence: the seeded activity notified ben (followers, comments,
        # likes); his status shows, and Redis is up.
        inbox = subprocess.run(ctl + ["--json", "notifications"], env=env,
                               capture_output=True, text=True, timeout=30)
        entries = json.loads(inbox.stdout).get("notifications", []) if inbox.returncode == 0 else []
        check(len(entries) > 0, "parleyctl notifications shows the demo activity: " + inbox.stderr.strip())
        status = subprocess.run(ctl + ["status", "set", "away", "e2e at lunch"], env=env,
                                capture_output=True, text=True, timeout=30)
        check(status.returncode == 0, "parleyctl status set: " + status.stderr.strip())
        seen = subprocess.run(ctl + ["--json", "presence", "ben"], env=env,
                              capture_output=True, text=True, timeout=30)
        check(seen.returncode == 0 and "PRESENCE_STATE_AWAY" in seen.stdout and "e2e at lunch" in seen.stdout,
              "parleyctl presence shows the status just set: " + seen.stdout.strip() + seen.stderr.strip())
        # Search: the post just made is found (events reach search within a second),
        # the demo's experts come back for "who knows kubernetes", typeahead answers.
        found = None
        for _ in range(50):
            found = subprocess.run(ctl + ["--json", "search", "posts", "hello #smoke"], env=env,
                                   capture_output=True, text=True, timeout=30)
            if found.returncode == 0 and "e2e hello" in found.stdout:
                break
            time.sleep(0.1)
        check(found.returncode == 0 and "e2e hello" in found.stdout,
              "parleyctl search posts finds the new post: " + found.stdout[:200] + found.stderr.strip())
        people = subprocess.run(ctl + ["--json", "search", "people", "kubernetes"], env=env,
                                capture_output=True, text=True, timeout=30)
        check(people.returncode == 0 and '"hits"' in people.stdout,
              "parleyctl search people kubernetes finds someone: " + people.stderr.strip())
        suggest = subprocess.run(ctl + ["--json", "suggest", "kub"], env=env,
                                 capture_output=True, text=True, timeout=30)
        check(suggest.returncode == 0 and "Kubernetes Guild" in suggest.stdout,
              "parleyctl suggest kub offers the Kubernetes Guild: " + suggest.stdout[:200] + suggest.stderr.strip())
        body = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
        check("parley_notify_redis_up 1" in body, "/metrics: parley_notify_redis_up is 1")
        check('method="Login"' in body and 'service="parley.identity.v1.IdentityService"' in body,
              "/metrics counts identity RPCs")
        check('method="ListHomeTimeline"' in body and 'service="parley.feed.v1.FeedService"' in body,
              "/metrics counts feed RPCs")
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            code = run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            code = -1
    check(code == 0, "SIGTERM stops tools/run cleanly (exit %s)" % code)
    if failures:
        print("FAILED: %d checks" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
