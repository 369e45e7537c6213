"""Defaults shared by more than one command or module, each written once."""

TEMPERATURE = 0.8  # generation: softmax temperature (generate, the API, training samples)
LENGTH = 200  # generation: characters generated after the prompt
TRAIN_SAMPLE_LENGTH = 300  # characters of the sample printed after `charlm train`
