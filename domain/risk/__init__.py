"""Risk: exposure, client metrics, toxic-flow detectors, segmentation (A/B book)."""
