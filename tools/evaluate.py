#!/usr/bin/env python3
"""The caption metrics' command line (captioner/evaluate.py has the usage; standard library
only, like the module):

  evaluate.py HYPOTHESES REFERENCES [--images LIST] [--json]
  evaluate.py --human REFERENCES [--images LIST] [--json]
"""
import sys

from captioner.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
