"""segtool: semantic segmentation of images and video with DeepLabV3."""

__version__ = "0.1.0"
