"""A pymesos 0.3.15 scheduler, library unmodified, run against a Mesos v1 master.

    python scheduler.py HOST:PORT [--deadline SECONDS] [--credentials FILE --principal NAME]

It subscribes, takes one offer, launches one command task with a plain LAUNCH, waits for
TASK_RUNNING and TASK_FINISHED (pymesos acknowledges each update that carries a uuid), then
stops the driver without failover, which makes pymesos send TEARDOWN. It exits 0 only if all
of that happened before the deadline, and prints what it saw either way, so that a failure in
the Rust test that runs it reads as a protocol story rather than a bare exit code.

With --credentials (a Mesos credentials file, such as the one `cairn cluster` keeps in its work
dir) it authenticates as --principal with pymesos' own `principal`/`secret` (HTTP Basic).

Set up the interpreter with tests/pymesos/install.sh.
"""

import argparse
import json
import sys
import threading
import time
import uuid
from http.client import HTTPConnection

from pymesos import MesosSchedulerDriver, Scheduler

TASK_COMMAND = "echo hi; sleep 1"
TASK_CPUS = 0.1
TASK_MEM = 32.0
TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
}


def log(msg):
    print("pymesos-probe: %s" % msg, flush=True)


def scalar(resources, name):
    return sum(
        r.get("scalar", {}).get("value", 0.0)
        for r in resources
        if r.get("name") == name and r.get("type", "SCALAR") == "SCALAR"
    )


class ProbeScheduler(Scheduler):
    """Records everything the driver reports; the main thread judges it."""

    def __init__(self, task_id):
        self.task_id = task_id
        self.lock = threading.Lock()
        self.framework_id = None
        self.offers_seen = 0
        self.launched_on = None
        self.states = []
        self.update_uuids = []
        self.errors = []
        self.done = threading.Event()

    def registered(self, driver, framework_id, master_info):
        with self.lock:
            self.framework_id = framework_id["value"]
        log("registered: framework_id=%s master=%s" % (framework_id["value"], json.dumps(master_info)))

    def reregistered(self, driver, master_info):
        log("reregistered (unexpected for a fresh framework): %s" % json.dumps(master_info))

    def disconnected(self, driver):
        log("disconnected")

    def resourceOffers(self, driver, offers):
        for offer in offers:
            with self.lock:
                self.offers_seen += 1
                launch = (
                    self.launched_on is None
                    and scalar(offer["resources"], "cpus") >= TASK_CPUS
                    and scalar(offer["resources"], "mem") >= TASK_MEM
                )
                if launch:
                    self.launched_on = offer["agent_id"]["value"]
            if not launch:
                # Nothing more to run: keep the offer away for the rest of the test.
                driver.declineOffer(offer["id"], filters={"refuse_seconds": 3600.0})
                continue
            task = {
                "name": "pymesos-probe",
                "task_id": {"value": self.task_id},
                "agent_id": {"value": offer["agent_id"]["value"]},
                "command": {"shell": True, "value": TASK_COMMAND},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": TASK_CPUS}},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": TASK_MEM}},
                ],
            }
            log(
                "offer %s from agent %s (%s): launching task %s"
                % (offer["id"]["value"], offer["agent_id"]["value"], offer.get("hostname"), self.task_id)
            )
            driver.launchTasks(offer["id"], [task], filters={"refuse_seconds": 3600.0})

    def offerRescinded(self, driver, offer_id):
        log("offer rescinded: %s" % offer_id["value"])

    def statusUpdate(self, driver, update):
        state = update["state"]
        log(
            "update: task=%s state=%s source=%s uuid=%s message=%r"
            % (
                update["task_id"]["value"],
                state,
                update.get("source"),
                "yes" if "uuid" in update else "no",
                update.get("message", ""),
            )
        )
        with self.lock:
            if update["task_id"]["value"] != self.task_id:
                self.errors.append("update for an unknown task: %s" % json.dumps(update))
                return
            self.states.append(state)
            if "uuid" in update:
                self.update_uuids.append(update["uuid"])
            if state in TERMINAL:
                self.done.set()

    def frameworkMessage(self, driver, executor_id, agent_id, message):
        log("framework message from %s: %r" % (executor_id, message))

    def slaveLost(self, driver, agent_id):
        log("agent lost: %s" % agent_id)

    def executorLost(self, driver, executor_id, agent_id, status):
        log("executor lost: %s on %s (status %s)" % (executor_id, agent_id, status))

    def error(self, driver, message):
        log("error event: %s" % message)
        with self.lock:
            self.errors.append("ERROR event: %s" % message)
        self.done.set()


def operator_call(master, call):
    """One operator API call through the path pymesos' own operator client uses."""
    host, port = master.rsplit(":", 1)
    conn = HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(
            "POST",
            "/api/v1/operator",
            body=json.dumps(call).encode("utf-8"),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError("operator %s: HTTP %s %r" % (call["type"], resp.status, body))
        return json.loads(body.decode("utf-8"))
    finally:
        conn.close()


def wait_for(what, deadline, predicate):
    """Polls `predicate` until it returns a true value or the deadline passes."""
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RuntimeError("timed out waiting for %s" % what)
        time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("master", help="the master's HOST:PORT")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds for the whole run")
    parser.add_argument("--credentials", help="a Mesos credentials file (JSON)")
    parser.add_argument("--principal", help="the principal to authenticate as")
    args = parser.parse_args()

    secret = None
    if args.credentials:
        with open(args.credentials) as f:
            creds = json.load(f)["credentials"]
        matching = [c["secret"] for c in creds if c["principal"] == args.principal]
        if not matching:
            log("FAIL: %s has no credential for principal %r" % (args.credentials, args.principal))
            return 1
        secret = matching[0]

    deadline = time.monotonic() + args.deadline
    task_id = "pymesos-probe-%s" % uuid.uuid4()
    sched = ProbeScheduler(task_id)
    framework = {
        # Not the user running this script: a cluster that runs as root would run the task as
        # root, which it refuses unless started with --allow-root.
        "user": "nobody",
        "name": "cairn-pymesos-probe",
        "hostname": "localhost",
    }
    if args.principal:
        framework["principal"] = args.principal
    driver = MesosSchedulerDriver(
        sched, framework, args.master, use_addict=False, principal=args.principal, secret=secret
    )
    failures = []
    started = False
    try:
        driver.start()
        started = True
        # Short waits: pymesos reports a dead IO thread with interrupt_main(), which is only
        # delivered when the main thread runs Python code again.
        while not sched.done.wait(timeout=0.2) and time.monotonic() < deadline:
            pass
        if not sched.done.is_set():
            failures.append("no terminal update for the task within %.0f s" % args.deadline)
    except KeyboardInterrupt:
        # pymesos interrupts the main thread when its IO thread dies (e.g. a non-200 SUBSCRIBE).
        failures.append("the pymesos IO thread aborted (see its log above)")
    finally:
        if started:
            # failover=False: pymesos' IO thread sends TEARDOWN on its way out, and forgets the
            # framework id only once the master answered it with a 2xx.
            driver.stop(failover=False)
            driver.join()

    with sched.lock:
        framework_id = sched.framework_id
        states = list(sched.states)
        failures.extend(sched.errors)
        summary = {
            "framework_id": framework_id,
            "offers_seen": sched.offers_seen,
            "launched_on_agent": sched.launched_on,
            "task_id": task_id,
            "states": states,
            "reliable_updates": len(sched.update_uuids),
        }

    if framework_id is None:
        failures.append("never registered (no SUBSCRIBED)")
    if sched.launched_on is None:
        failures.append("never launched: no offer had %.2f cpus and %.0f mem" % (TASK_CPUS, TASK_MEM))
    if "TASK_RUNNING" not in states:
        failures.append("never saw TASK_RUNNING (saw %s)" % states)
    if not states or states[-1] != "TASK_FINISHED":
        failures.append("the task did not end in TASK_FINISHED (saw %s)" % states)
    if len(sched.update_uuids) < 2:
        failures.append("expected reliable (uuid-carrying) RUNNING and FINISHED updates")
    if framework_id is not None and driver.framework_id is not None:
        failures.append("TEARDOWN was not sent or was refused (see the pymesos log above)")

    # The master's word that TEARDOWN took effect, checked the way an operator would.
    if framework_id is not None and not failures:
        try:
            def torn_down():
                frameworks = operator_call(args.master, {"type": "GET_FRAMEWORKS"})["get_frameworks"]
                completed = frameworks.get("completed_frameworks", [])
                return any(f["framework_info"]["id"]["value"] == framework_id for f in completed)

            wait_for("the framework in completed_frameworks", deadline, torn_down)
            summary["completed_framework"] = True
        except Exception as e:  # noqa: BLE001 - reported, not swallowed
            failures.append("operator check: %s" % e)

    log("summary: %s" % json.dumps(summary))
    if failures:
        for f in failures:
            log("FAIL: %s" % f)
        return 1
    log("OK: subscribed, launched, saw RUNNING and FINISHED, acknowledged, tore down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
