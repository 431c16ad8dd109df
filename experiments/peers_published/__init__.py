"""The published peers (CDnCNN-B, FFDNet colour) measured here against a plain forward pass of their files."""
