#!/usr/bin/python3
"""The PyTorch reference captioner's command line (captioner/reference.py has the usage):

  /usr/bin/python3 tools/reference.py [--model PATH] [--beam N] [--batch N] IMAGE...
"""
from captioner.reference import main

if __name__ == "__main__":
    main()
