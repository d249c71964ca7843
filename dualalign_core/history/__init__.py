"""Patient histories: the planned timeline, what a note sees of it, and what notes remember."""
