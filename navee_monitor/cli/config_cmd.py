"""``navee-monitor config check|show``."""

from __future__ import annotations

import json

import yaml

from navee_monitor.cli.context import AppContext


def register(sub) -> None:
    p = sub.add_parser("config", help="validate or show the configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = csub.add_parser("check", help="validate config.yaml; exit 2 naming the bad key")
    check.set_defaults(handler=check_config)
    show = csub.add_parser("show", help="print the effective settings (defaults, file, env, flags)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_config)


def check_config(ctx: AppContext) -> int:
    # loading already validated everything; reaching here means the file is valid
    s = ctx.settings
    enabled = [site.name for site in s.sites if site.enabled]
    print(f"configuration OK: data_dir={s.data_dir}, {len(s.sites)} site(s) ({len(enabled)} enabled)")
    for site in s.sites:
        state = "enabled" if site.enabled else "disabled"
        print(f"  {site.name}: {', '.join(site.start_urls)} every {site.schedule} ({state})")
    return 0


def show_config(ctx: AppContext) -> int:
    data = ctx.settings.model_dump(mode="json")
    print(json.dumps(data, indent=2) if ctx.args.json else yaml.safe_dump(data, sort_keys=False))
    return 0
