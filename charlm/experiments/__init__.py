"""Experiments: several models trained and probed side by side (cells: RNN vs GRU vs LSTM on
agreement). They sit above charlm.training and charlm.probes, the two stages they combine."""
