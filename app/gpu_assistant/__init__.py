"""TensorFlow GPU Assistant: get TensorFlow onto the NVIDIA GPU, then train on your pictures."""

__version__ = "0.1.0"
APP_NAME = "TensorFlow GPU Assistant"
