"""`python -m gpu_assistant` behaves like the `gpu-assistant` command."""

import sys

from gpu_assistant.cli import main

sys.exit(main())
