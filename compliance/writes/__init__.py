"""Every state change, as ``do_<verb>_<noun>`` in ``writes/<noun>.py``: each checks the
caller's permission (``refusals.require``), runs in one transaction and writes its audit row
in it; a refusal is audited too (``refusals``). Faces import the module of the noun."""
