"""Runs the integration tests; the last line is "N passed, N failed".

Usage: python3 tests/integration/run.py [-k PATTERN] [TEST_ID...]
VG_BINARY selects the daemon binary (default build/villagemetricsd).
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    args = sys.argv[1:]
    loader = unittest.TestLoader()
    if "-k" in args:
        i = args.index("-k")
        loader.testNamePatterns = ["*%s*" % args[i + 1]]
        args = args[:i] + args[i + 2:]
    if args:
        suite = loader.loadTestsFromNames(args)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed, %d skipped" % (passed, failed, len(result.skipped)))
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
