"""The deployment security checklist, evaluated live where it can be, attested where not.

See ``items.py`` for the items and which of them are required.
"""
