"""Running a trained denoiser: the inference path (``inference``), the machine's precision (``precision``),
graph transforms (batch norm folding), SavedModel and TFLite export (``export``) and int8 quantization."""
