"""labbench: RRAM device-lab suite (instruments, characterization, fitting, simulated bench, 2T2R BNN training)."""
__version__ = "0.1.0"
