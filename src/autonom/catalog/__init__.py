"""Model facts (a data file, not code), hardware fit and licence policy.

``catalog`` reads the shipped model catalog; ``fit`` estimates memory and speed of a model
on a machine from those facts.
"""
