"""Demo chapters, one module per part of the system."""
