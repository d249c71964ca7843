"""Text utilities: clinical sentence segmentation and assertion context."""
