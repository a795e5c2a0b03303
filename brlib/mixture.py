"""CLI: `python -m brlib.mixture SPEC.yaml [--profile tiny|paper]` builds a mixture and prints its per-source report.

The mixture itself lives in `brlib.data.mixture`; this entry point fills the spec's paths from a profile
(`brlib.experiments.profiles`), which the data package must not import.
"""

from __future__ import annotations

from brlib.data.mixture import build_mixture


def main(argv: list[str] | None = None) -> int:
    """`python -m brlib.mixture SPEC.yaml [--profile tiny|paper]`: build the mixture and print its report."""
    import argparse

    from brlib.experiments import profiles

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("spec")
    ap.add_argument("--profile", default="tiny", choices=["tiny", "paper"])
    args = ap.parse_args(argv)
    prepared = profiles.prepare(profiles.load(args.profile))
    mix = build_mixture(profiles.resolve_mixture(args.spec, prepared))
    print(mix.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
