"""``python -m ferrokafka PROGRAM.py [ARGS...]``: runs a kafka-python program
on ferrokafka, unchanged (``-m MODULE`` runs a module the same way)."""

import runpy
import sys

from ferrokafka import install_as_kafka

USAGE = "usage: python -m ferrokafka PROGRAM.py [ARGS...]\n       python -m ferrokafka -m MODULE [ARGS...]"


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else 2
    install_as_kafka()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(argv)
        sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(argv[0])))
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
