"""The core: the vocabulary, errors, clock, Redis key names, logging, metrics, identifiers,
text made safe to store, YAML alias checks, the working-day calendar, and the building blocks of
config.yaml's sections (settings).

Pure building blocks with no Redis or database handle of their own. May import nothing else
in hub (nor channels); everything else may import it.
"""
