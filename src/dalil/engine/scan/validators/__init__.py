"""Checksums and number plans that prove a candidate feature is what it looks like.

One module per family. Each validator takes the candidate as text and returns a bool (or
a normalised form, or ``None`` when the candidate fails), so that it can be used on its
own, outside the scanner, and property-tested.
"""
