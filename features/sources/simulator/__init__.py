"""Market simulator (docstring to be written)."""
from features.sources.simulator.config import PRESETS, SimConfig, load_config
from features.sources.simulator.market import simulate, simulate_chunks

__all__ = ["simulate", "simulate_chunks", "SimConfig", "PRESETS", "load_config"]
