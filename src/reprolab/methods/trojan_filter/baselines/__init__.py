"""The defenses the paper compares input filtering against: STRIP (input-level detection), Neural Cleanse (trigger
reversal and unlearning), Fine-Pruning (model repair) and a Februus-like purifier (GradCAM + inpainting)."""
