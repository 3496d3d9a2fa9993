"""The core: the vocabulary, errors, clock, Redis key names, logging, metrics, identifiers,
text made safe to store, YAML alias checks and the working-day calendar.

Pure building blocks with no Redis or database handle of their own. May import nothing else
in hub (nor channels); everything else may import it.
"""
