"""`python -m signpost ...` runs the same command line as `signpost ...` (handy when scripts are not on PATH)."""

from signpost.cli import main

main()
