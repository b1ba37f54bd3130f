"""Post-training the company's own model on its documents: data, LoRA training, GGUF
adapters, the evaluation gate and versions."""
