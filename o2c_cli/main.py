"""``o2c``: the hub's command line (CONTRACT §1)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="o2c", description="O2C Hub: order-to-cash integration hub")
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="the embedded local cloud")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser("up", help="run the local cloud in the foreground until Ctrl-C")
    up.add_argument("--port", type=int, default=3000, help="HTTP front (API Gateway) port")
    up.add_argument("--aws-port", type=int, default=4566, help="embedded AWS (moto) port")
    up.add_argument("--state-dir", type=Path, default=Path(".o2c"))

    sub.add_parser("demo", help="boot the local cloud and play the scenario through real HTTP webhooks")

    def with_target(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--stack", help="a deployed stack (e.g. O2CHub-prod); default: the local cloud")
        p.add_argument("--region", help="AWS region of --stack")
        return p

    tr = with_target(sub.add_parser("trace", help="lineage of a deal or payment, by any of its ids"))
    tr.add_argument("id")
    tr.add_argument("--json", action="store_true", help="machine-readable output")

    dlq = sub.add_parser("dlq", help="dead-letter queues")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    with_target(dlq_sub.add_parser("list", help="depth and a sample of every DLQ"))
    rd = with_target(dlq_sub.add_parser("redrive", help="move a DLQ's messages back to their queue"))
    rd.add_argument("queue", help="consumer id (e.g. LineageRecorder) or the DLQ's name or URL")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from o2c_cli.targets import TargetError, resolve

    try:
        if args.command == "local":
            from localcloud.main import run

            return run(api_port=args.port, aws_port=args.aws_port, state_dir=args.state_dir)
        if args.command == "demo":
            from o2c_cli.demo import run_demo

            return run_demo()
        if args.command == "trace":
            from o2c_cli import trace

            entries = trace.trace(resolve(args.stack, args.region), args.id)
            print(trace.as_json(args.id, entries) if args.json else trace.as_text(args.id, entries))
            return 0 if entries else 1
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
    except TargetError as exc:
        print(f"o2c: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
