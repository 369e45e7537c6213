"""Stage 1: corpus text → tokenizer → token ids (cached) → teacher-forced batches. No Keras."""
