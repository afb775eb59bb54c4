"""``o2c``: the hub's command line (CONTRACT §1)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from o2c_cli.errors import error_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="o2c", description="O2C Hub: order-to-cash integration hub")
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="the embedded local cloud")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser("up", help="run the local cloud in the foreground until Ctrl-C")
    up.add_argument("--port", type=int, default=3000, help="HTTP front (API Gateway) port")
    up.add_argument("--aws-port", type=int, default=4566, help="embedded AWS (moto) port")
    up.add_argument("--state-dir", type=Path, default=Path(".o2c"))
    up.add_argument(
        "--fresh", action="store_true", help="start empty: delete the state kept from the last run first"
    )
    up.add_argument(
        "--console-port", type=int, default=8700, help="the operations console's port on 127.0.0.1"
    )
    up.add_argument("--no-console", action="store_true", help="do not serve the operations console")
    reset = local_sub.add_parser("reset", help="delete the local cloud's kept state (tables, queues, ...)")
    reset.add_argument("--state-dir", type=Path, default=Path(".o2c"))

    sub.add_parser("demo", help="boot the local cloud and play the scenario through real HTTP webhooks")

    def with_target(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--stack", help="a deployed stack (e.g. O2CHub-prod); default: the local cloud")
        p.add_argument("--region", help="AWS region of --stack")
        p.add_argument(
            "--as",
            dest="identity",
            choices=("operator", "readonly"),
            help="locally: act as an IAM user holding the operator (or read-only operator) policy "
            "(default: $O2C_AS, else unrestricted)",
        )
        return p

    con = with_target(
        sub.add_parser(
            "console",
            help="the operations console: a web page on 127.0.0.1 with the business figures, the deals, "
            "DLQs, pending facts, and the operator's actions",
        )
    )
    con.add_argument("--port", type=int, default=8700, help="port on 127.0.0.1 (0: any free port)")

    tr = with_target(sub.add_parser("trace", help="lineage of a deal or payment, by any of its ids"))
    tr.add_argument("id")
    tr.add_argument("--json", action="store_true", help="machine-readable output")

    ap = with_target(sub.add_parser("approve", help="approve (or --reject) an order waiting for approval"))
    ap.add_argument("id", help="execution name, opportunity id or any id of the deal")
    ap.add_argument("--reject", action="store_true")
    ap.add_argument("--by", default=os.environ.get("USER", "operator"))
    hold = sub.add_parser("hold", help="orders on hold for sales operations")
    hold_sub = hold.add_subparsers(dest="hold_command", required=True)
    rel = with_target(
        hold_sub.add_parser("release", help="the account was fixed in the CRM: re-check and continue")
    )
    rel.add_argument("id")
    rel.add_argument("--by", default=os.environ.get("USER", "operator"))
    st = with_target(sub.add_parser("status", help="where a deal's quote-to-cash execution stands"))
    st.add_argument("id")
    rdv = with_target(sub.add_parser("redrive", help="redrive a failed execution from the step that failed"))
    rdv.add_argument("id")

    rp = with_target(
        sub.add_parser("replay", help="put a time window's events back on the bus from its archive")
    )
    rp.add_argument("--from", dest="start", required=True, help="ISO 8601 date or time (UTC unless zoned)")
    rp.add_argument("--to", dest="end", required=True, help="ISO 8601 date or time (UTC unless zoned)")
    rp.add_argument("--type", dest="detail_type", help="only to the consumers that take this event type")
    rp.add_argument("--consumer", help="only to this consumer's rule (e.g. RefundBooker)")
    rp.add_argument(
        "--wait", type=float, default=900, help="seconds to wait for the replay to complete (default 900)"
    )

    rf = with_target(sub.add_parser("refund", help="refund (part of) a captured payment through Stripe"))
    rf.add_argument("payment", help="the PaymentIntent id (pi_...)")
    rf.add_argument("--amount", help="in major units of the payment's currency (default: all that remains)")
    rf.add_argument("--reason", default="requested_by_customer")
    rf.add_argument("--by", default=os.environ.get("USER", "operator"))
    rc = with_target(
        sub.add_parser("reconcile", help="three-way reconciliation of a day (CRM ↔ ERP ↔ Stripe)")
    )
    rc.add_argument("--date", help="YYYY-MM-DD (default: today)")
    fmt = rc.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    rc.add_argument(
        "--no-publish", action="store_true", help="report only; publish no ReconciliationException"
    )
    rs = with_target(sub.add_parser("resync", help="re-run the syncs of a deal, payment, refund or payout"))
    rs.add_argument("id")

    setup = sub.add_parser("setup", help="vendor setup the hub needs")
    setup_sub = setup.add_subparsers(dest="setup_command", required=True)
    crm = with_target(
        setup_sub.add_parser(
            "crm",
            help="create the HubSpot properties and deploy the Salesforce custom fields the hub reads and writes",
        )
    )
    crm.add_argument("--check", action="store_true", help="only report what is missing; change nothing")
    crm.add_argument(
        "--only", choices=("hubspot", "salesforce"), help="one CRM (default: every CRM configured)"
    )

    doc = with_target(
        sub.add_parser(
            "doctor", help="check a stage end to end (secrets, vendors, webhooks, fields, mappings)"
        )
    )
    doc.add_argument("--json", action="store_true", help="machine-readable output")
    with_target(
        sub.add_parser(
            "smoke",
            help="send the stage a Stripe-signed test webhook (and a forged one): 200 ignored, then 401",
        )
    )

    pend = sub.add_parser("pending", help="facts waiting for another fact (a refund before its invoice, ...)")
    pend_sub = pend.add_subparsers(dest="pending_command", required=True)
    with_target(pend_sub.add_parser("list", help="what waits, for what, since when"))
    with_target(pend_sub.add_parser("release", help="put every waiting fact back on the bus now"))
    sq = sub.add_parser(
        "sql", help="query the local cloud's warehouse feed (table events) with DuckDB, or run a saved query"
    )
    sq.add_argument(
        "query",
        nargs="?",
        help='SQL on the table events, e.g. "SELECT type, count(*) FROM events GROUP BY type"',
    )
    sq.add_argument("--saved", metavar="NAME", help="run a saved query (--list shows them)")
    sq.add_argument("--list", action="store_true", help="list the saved queries")
    sq.add_argument("--json", action="store_true", help="machine-readable output")
    dlq = sub.add_parser("dlq", help="dead-letter queues")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    with_target(dlq_sub.add_parser("list", help="depth and a sample of every DLQ"))
    rd = with_target(dlq_sub.add_parser("redrive", help="move a DLQ's messages back to their queue"))
    rd.add_argument("queue", help="consumer id (e.g. LineageRecorder) or the DLQ's name or URL")
    rb = with_target(
        sub.add_parser(
            "rollback",
            help="stop an in-flight deployment with rollback, or move functions' live alias back a version",
        )
    )
    rb.add_argument(
        "--function",
        help="one function, by its id (e.g. Reconciler); default: what the last stack update changed",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever goes wrong ends as one line on stderr and a non-zero exit: 2 for a usage
    or target problem, 1 for a failure of AWS, a vendor or the command, 130 when interrupted
    (``O2C_DEBUG=1`` re-raises, for the traceback)."""
    args = _parser().parse_args(argv)
    from o2c_cli.targets import TargetError

    previous_identity = os.environ.get("O2C_AS")
    if getattr(args, "identity", None):
        os.environ["O2C_AS"] = args.identity  # read by local_target, wherever a command resolves its target
    try:
        return _run(args)
    except TargetError as exc:
        print(f"o2c: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("o2c: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("O2C_DEBUG"):
            raise
        print(f"o2c: {' '.join(error_line(exc).split())}", file=sys.stderr)
        return 1
    finally:
        if previous_identity is None:
            os.environ.pop("O2C_AS", None)
        else:
            os.environ["O2C_AS"] = previous_identity


#: The error codes AWS refuses an unauthorized call with (JSON APIs, S3 and the query APIs).


def _run(args: argparse.Namespace) -> int:
    from o2c_cli.targets import resolve

    if args.command == "local":
        if args.local_command == "reset":
            from localcloud.main import reset

            return reset(args.state_dir)
        from localcloud.main import run
        from o2c_cli.console.server import serve_when_ready

        stopped = None if args.no_console else serve_when_ready(args.state_dir, args.console_port)
        try:
            return run(api_port=args.port, aws_port=args.aws_port, state_dir=args.state_dir, fresh=args.fresh)
        finally:
            if stopped is not None:
                stopped.set()
    if args.command == "console":
        from o2c_cli.console.server import Console
        from o2c_cli.targets import TargetError

        try:
            console = Console(resolve(args.stack, args.region), args.port)
        except OSError as exc:
            raise TargetError(f"cannot serve the console on 127.0.0.1:{args.port}: {exc.strerror}") from exc
        print(f"open the console: {console.url}  (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            console.serve_forever()
        console.stop()
        return 0
    if args.command == "demo":
        from o2c_cli.demo import run_demo

        return run_demo()
    if args.command == "sql":
        from o2c_cli import sql
        from o2c_cli.targets import TargetError, local_target

        if args.list:
            print("\n".join(sql.list_saved()))
            return 0
        if bool(args.query) == bool(args.saved):
            raise TargetError('o2c sql: give a query ("SELECT ... FROM events") or --saved NAME')
        text = sql.saved_sql(args.saved) if args.saved else args.query
        print(sql.render(sql.query(local_target(), text), "json" if args.json else "table"))
        return 0
    if args.command == "trace":
        from o2c_cli import trace

        target = resolve(args.stack, args.region)
        entries = trace.trace(target, args.id)
        running = trace.executions_of(target, entries)
        print(
            trace.as_json(args.id, entries, running)
            if args.json
            else trace.as_text(args.id, entries, running)
        )
        return 0 if entries else 1
    if args.command in {"approve", "hold", "status", "redrive"}:
        from o2c_cli import executions

        target = resolve(args.stack, args.region)
        if args.command == "approve":
            name, resumed = executions.approve(target, args.id, approved=not args.reject, by=args.by)
            verdict = "rejected" if args.reject else "approved"
            print(f"{verdict} {name}" + ("" if resumed else " (recorded; the execution is not waiting yet)"))
            return 0
        if args.command == "hold":
            name, resumed = executions.release_hold(target, args.id, by=args.by)
            print(
                f"released {name}: the deal is re-checked in the CRM"
                + ("" if resumed else " (already released)")
            )
            return 0
        if args.command == "redrive":
            print(f"redriving {executions.redrive(target, args.id)} from its failed step")
            return 0
        state = executions.state_of(target, executions.resolve_execution(target, args.id))
        print(state.line() if state else f"no execution for {args.id}")
        return 0 if state else 1
    if args.command == "replay":
        from o2c_cli import replay

        target = resolve(args.stack, args.region)
        result = replay.replay(
            target,
            replay.parse_time(args.start),
            replay.parse_time(args.end),
            detail_type=args.detail_type,
            consumer=args.consumer,
            wait_s=args.wait,
        )
        print(result.line())
        return 0 if result.state == "COMPLETED" else 1
    if args.command in {"refund", "reconcile", "resync"}:
        from datetime import date

        from o2c_cli import after_sale_commands as after_sale

        target = resolve(args.stack, args.region)
        if args.command == "refund":
            request = after_sale.request_refund(
                target, args.payment, args.amount, reason=args.reason, by=args.by
            )
            print(f"refund requested: {request} (booked in the ERP when Stripe confirms it)")
            return 0
        if args.command == "resync":
            print("re-published: " + (", ".join(after_sale.resync(target, args.id)) or "nothing"))
            return 0
        report = after_sale.reconcile(
            target, date.fromisoformat(args.date) if args.date else None, publish=not args.no_publish
        )
        print(after_sale.render(report, "json" if args.json else "csv" if args.csv else "table"))
        return 1 if report["exceptions"] else 0
    if args.command == "setup":
        from o2c_cli import crm_setup

        target = resolve(args.stack, args.region)
        crms = (args.only,) if args.only else ("hubspot", "salesforce")
        statuses = crm_setup.crm_status(target, create=not args.check, crms=crms)
        for field_status in statuses:
            print(field_status.line())
        bad = [s for s in statuses if s.state in (crm_setup.MISSING, crm_setup.MISMATCH)]
        print(f"{len(bad)} CRM field(s) missing" if bad else "CRM fields: all present")
        return 1 if bad else 0
    if args.command == "doctor":
        from o2c_cli import doctor

        return doctor.run(args.stack, args.region, as_json_output=args.json)
    if args.command == "smoke":
        from o2c_cli import smoke

        return smoke.run(args.stack, args.region)
    if args.command == "pending":
        from o2c_cli import pending

        target = resolve(args.stack, args.region)
        if args.pending_command == "release":
            print(f"released {pending.release_all(target)} waiting fact(s)")
            return 0
        waiting = pending.waiting(target)
        for item in waiting:
            print(pending.line(item))
        print(f"{len(waiting)} fact(s) waiting")
        return 0
    if args.command == "dlq":
        from o2c_cli import dlq

        target = resolve(args.stack, args.region)
        if args.dlq_command == "list":
            for status in dlq.list_dead_letters(target):
                print(f"{status.consumer:<20} {status.depth:>6} dead letter(s)  {status.dlq_url}")
                for letter in status.sample:
                    print(
                        f"    {letter.message_id}  {letter.detail_type}  event {letter.event_id}"
                        f"  received {letter.receive_count}x"
                    )
            return 0
        moved = dlq.redrive(target, args.queue)
        print(f"redrove {moved} message(s) from {args.queue}")
        return 0
    if args.command == "rollback":
        from o2c_cli import rollback
        from o2c_cli.targets import TargetError

        if not args.stack:
            raise TargetError(
                "rollback acts on a deployed stack (the local cloud has no deployments): pass --stack"
            )
        outcomes = rollback.rollback(args.stack, args.region, args.function)
        for outcome in outcomes:
            print(outcome.line())
        changed = [o for o in outcomes if o.action != "unchanged"]
        if not changed:
            print("nothing to roll back")
        return 0 if changed else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
