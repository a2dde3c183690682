"""drumtimbre: drum hits -> seven AudioCommons timbre controls over OSC."""
__version__ = "0.1.0"
