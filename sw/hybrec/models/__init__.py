"""Models: baselines (popularity, BPR-MF, LightGCN), language models over item texts, the hybrid."""
