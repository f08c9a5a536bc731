"""hybrec: from a trained hybrid (GNN + language model) recommender to a verified FPGA kernel."""

__version__ = "0.1.0"
