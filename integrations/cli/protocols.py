"""``reward-judge protocols``: the judge protocols and the judge presets, printed from the code."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("protocols", help="list judge protocols and judge presets")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from reward_judge.presets import PRESETS
    from reward_judge.protocols import get_protocol, list_protocols

    print("Protocols:")
    for name in list_protocols():
        p = get_protocol(name)
        if p.pairwise:
            scale = "A/B" + ("/tie" if "tie" in p.description or name == "mtbench-pair" else "")
        else:
            scale = f"{p.score_range[0]:g}-{p.score_range[1]:g}"  # type: ignore[index]
        slots = ", ".join(s for s, on in (("reference " + p.reference_slot, p.reference_slot != "none"),
                                          ("rubric", p.uses_rubric)) if on) or "-"
        print(f"  {name:<24} {scale:<8} {slots:<28} {p.description}")
    print("\nPresets (judge id -> protocol, chat format, scoring mode):")
    for name, preset in PRESETS.items():
        opts = preset.options
        print(f"  {name:<40} {opts.get('protocol'):<16} {opts.get('chat_format', 'template'):<9} "
              f"{opts.get('mode', 'generate'):<9} {preset.note}")
    return 0
