"""Root of the test suite.

Tests run with ``--import-mode=importlib`` so that test files in different services may
share names. The libraries whose folder names equal their package names are imported
here first, so pytest's module naming never shadows the real packages.
"""

import contracts  # noqa: F401
import devstack  # noqa: F401
import kernel  # noqa: F401
