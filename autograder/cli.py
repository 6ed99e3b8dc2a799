"""The instructors' command line: ``python -m autograder COMMAND``.

Commands
  demo       the main job on the embedded demo class: build the release, train
             the reference autoencoder and write the learned-features picture
  release    regenerate release/ from source/ with nbgrader generate_assignment
  features   train the reference sparse autoencoder and write its features PNG
  data       rebuild the whitened images shipped with assignment 05
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .course import COURSE_ROOT

DEFAULT_PNG = COURSE_ROOT / "build" / "learned_features.png"


def release(names: list[str] | None = None) -> list[str]:
    """Regenerate release/ for the named assignments (default: all); exit with nbgrader's log on failure."""
    from . import course

    try:
        done = course.release(names)
    except course.NbgraderError as error:
        raise SystemExit(str(error)) from None
    for name in done:
        print(f"released {name} -> release/{name}/")
    return done


def _cmd_release(args) -> int:
    done = release(args.assignments)
    if not done:
        print("source/ holds no assignment notebook yet: nothing to release")
    return 0


def _cmd_features(args) -> int:
    from . import features

    run = features.train(num_patches=args.patches, max_iter=args.max_iter, seed=args.seed)
    print(run.summary())
    path = features.save_features_png(run.W1, args.out)
    print(f"learned features written to {path}")
    return 0


def _cmd_data(args) -> int:
    from . import data

    path = data.write_images(args.out)
    print(f"whitened images {data.IMAGE_NAMES} written to {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _cmd_demo(args) -> int:
    done = release()
    print(f"release/ is up to date ({len(done)} assignments)")
    return _cmd_features(args)


def _add_training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", type=Path, default=DEFAULT_PNG, help=f"PNG to write (default: {DEFAULT_PNG.relative_to(COURSE_ROOT)})"
    )
    p.add_argument("--patches", type=int, default=10000, help="number of 8x8 patches (default: 10000)")
    p.add_argument("--max-iter", type=int, default=400, help="L-BFGS iterations (default: 400)")
    p.add_argument("--seed", type=int, default=0, help="seed of the patch sampling and the initialization (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Instructors' tools of the sparse autoencoder course. Run from anywhere; paths are the course's.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="build the release and write the learned-features picture (the README's main job)")
    _add_training_options(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("release", help="regenerate release/ from source/ (nbgrader generate_assignment --force)")
    p.add_argument("assignments", nargs="*", help="assignment names (default: every assignment in source/)")
    p.set_defaults(func=_cmd_release)

    p = sub.add_parser("features", help="train the reference sparse autoencoder and write its features PNG")
    _add_training_options(p)
    p.set_defaults(func=_cmd_features)

    p = sub.add_parser("data", help="rebuild the whitened natural images (IMAGES.npy) from scikit-image's photographs")
    from .data import IMAGES_PATH

    p.add_argument(
        "--out",
        type=Path,
        default=IMAGES_PATH,
        help=f"where to write (default: {IMAGES_PATH.relative_to(COURSE_ROOT)})",
    )
    p.set_defaults(func=_cmd_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
