"""The GPU slot's training step with the data on the device (``training.device_step``): what drawing costs."""
